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

    /// <summary>
    /// Next-token loss on natural text: the <see cref="SampleText"/> passages, tokenized (BOS first when used) and cut
    /// to the shortest passage's length (at most the context) so they form one batch of equal-length prompts, which
    /// resample ablation needs; every position's prediction is scored. Null when the model cannot run or the tokenizer
    /// cannot encode the text.
    /// </summary>
    public static CausalTask? SampleTextTask(DetectorContext context)
    {
        if (context.CannotRunForward() is not null || context.Tokenizer is null) return null;
        int[][] passages;
        try
        {
            passages = TextPrompts.Tokenize(context);
        }
        catch (HeadMinerException)
        {
            return null;
        }
        int length = Math.Min(passages.Min(p => p.Length), context.Config.ContextLength);
        if (length < 2) return null;
        var prompts = passages.Select(p => p[..length]).ToArray();
        var predictions = Enumerable.Range(0, length - 1).ToArray();
        return new CausalTask($"next-token loss on natural text ({prompts.Length} sample passages × {length} tokens, nats)", HigherIsBetter: false,
            hooks => Mean(context.Model, prompts, predictions, hooks))
        { Key = $"sample_text_loss:{length}" };
    }
}
