using HeadMiner.Analysis.Ablation;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Bench;

/// <summary>
/// `ablation`: the per-head ablation study batched (k copies of the prompts per forward, copy j ablating head j)
/// against one forward per head, on random-weight models: a stories260K-shaped Llama (5 layers × 8 heads, d 64) and
/// a GPT-2-small-shaped model (d 768, 12 heads) cut to 2 layers (--gpt2-layers) and an 8192-token vocabulary. Three variants: batched and resumed from
/// the clean resid_pre at the ablated layer (the default), batched from the embedding, and one full forward per head.
/// Each is warmed up once, then timed best of N.
/// Options: --quick (N = 2), --pairs P, --length T, --gpt2-layers L.
/// </summary>
public static class AblationBench
{
    public static int Run(string[] args)
    {
        int repeats = args.Contains("--quick") ? 2 : 5;
        int pairs = Option(args, "--pairs", 4), length = Option(args, "--length", 16), gpt2Layers = Option(args, "--gpt2-layers", 2);
        var tinyLlama = new ModelConfig
        {
            Architecture = "llama",
            VocabSize = 512,
            DModel = 64,
            Layers = 5,
            Heads = 8,
            KvHeads = 4,
            DHead = 8,
            DMlp = 172,
            ContextLength = 512,
            Norm = NormKind.RmsNorm,
            NormEps = 1e-5f,
            Activation = MlpActivation.SwiGlu,
            RotaryDim = 8,
            RotaryStyle = RotaryStyle.RotateHalf,
            RopeTheta = 10000,
            AttentionScale = 1f / MathF.Sqrt(8),
            AttentionWindow = new int[5],
        };
        var gpt2Cut = RandomWeights.Gpt2SmallConfig() with { Layers = gpt2Layers, AttentionWindow = new int[gpt2Layers], VocabSize = 8192 };
        Console.WriteLine($"threads {WorkerPool.MaxThreads}; {pairs} pairs × {length} tokens; zero ablation, logit_diff + loss; best of {repeats}");
        foreach (var (name, config) in new[] { ("stories260K-shaped", tinyLlama), ($"gpt2-small-shaped, {gpt2Layers} layers, vocab 8192", gpt2Cut) })
        {
            using var model = new Transformer(config, RandomWeights.Create(config, 1), name);
            var rng = new SeededRandom(5);
            int[][] Seqs() => Enumerable.Range(0, pairs).Select(_ => Enumerable.Range(0, length).Select(_ => rng.NextInt(config.VocabSize)).ToArray()).ToArray();
            var tokenized = new TokenizedPairs(Seqs(), Seqs(), Enumerable.Range(0, pairs).Select(i => i + 1).ToArray(), Enumerable.Range(0, pairs).Select(i => i + 2).ToArray());
            var options = new AblationStudyOptions { Kind = AblationKind.Zero, Metric = MetricKind.LogitDiff };
            var fromEmbedding = options with { ResumeFromCleanResidual = false };
            AblationStudy.Run(model, tokenized, options);
            AblationStudy.Run(model, tokenized, fromEmbedding);
            AblationStudy.RunOneForwardPerHead(model, tokenized, options);
            double batched = double.MaxValue, batchedFull = double.MaxValue, loop = double.MaxValue;
            AblationStudyResult? last = null;
            for (int r = 0; r < repeats; r++)
            {
                last = AblationStudy.Run(model, tokenized, options);
                batched = Math.Min(batched, last.Elapsed.TotalMilliseconds);
                batchedFull = Math.Min(batchedFull, AblationStudy.Run(model, tokenized, fromEmbedding).Elapsed.TotalMilliseconds);
                loop = Math.Min(loop, AblationStudy.RunOneForwardPerHead(model, tokenized, options).Elapsed.TotalMilliseconds);
            }
            Console.WriteLine($"{name}: {config.Layers * config.Heads} heads, {last!.Forwards} forwards of ≤{last.HeadsPerForward} heads");
            Console.WriteLine($"  batched + resumed {batched:F0} ms; batched from embedding {batchedFull:F0} ms; one forward per head {loop:F0} ms");
            Console.WriteLine($"  speedup vs one forward per head: {loop / batched:F2}x (batching alone {loop / batchedFull:F2}x)");
        }
        return 0;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int v) ? v : fallback;
    }
}
