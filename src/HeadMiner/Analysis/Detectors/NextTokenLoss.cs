using HeadMiner.Hooks;
using HeadMiner.Models;

namespace HeadMiner.Analysis.Detectors;

/// <summary>Mean next-token cross-entropy over chosen positions of a batch of equal-length prompts, under hooks.</summary>
public static class NextTokenLoss
{
    /// <param name="predictions">Positions i whose prediction of token i + 1 is scored.</param>
    public static double Mean(Transformer model, int[][] prompts, IReadOnlyList<int> predictions, HookSet hooks)
    {
        int n = prompts.Length, t = prompts[0].Length, v = model.Config.VocabSize;
        var ids = new int[n * t];
        for (int s = 0; s < n; s++)
        {
            if (prompts[s].Length != t) throw new ArgumentException("prompts must have equal lengths");
            prompts[s].CopyTo(ids, s * t);
        }
        // Only the scored positions are unembedded (the unembedding dominates short prompts with large vocabularies).
        int[] positions = [.. predictions];
        var logits = model.Run(new TokenBatch(ids, n, t), new ForwardOptions { Hooks = hooks, LogitPositions = positions }).Logits!.Contiguous().Span;
        double sum = 0;
        int count = 0;
        for (int s = 0; s < n; s++)
        {
            for (int k = 0; k < positions.Length; k++)
            {
                int i = positions[k];
                var row = logits.Slice((s * positions.Length + k) * v, v);
                float max = float.NegativeInfinity;
                foreach (float x in row) max = Math.Max(max, x);
                double z = 0;
                foreach (float x in row) z += Math.Exp(x - max);
                sum += Math.Log(z) + max - row[prompts[s][i + 1]];
                count++;
            }
        }
        return sum / count;
    }
}
