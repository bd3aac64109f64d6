using HeadMiner.Analysis.Atlas;
using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Bench;

/// <summary>
/// `precision [--skip-atlas]`: what bf16 arithmetic (--precision bf16) changes against fp32, on the embedded model
/// (float32 checkpoint: bf16 rounds its weights too) and on a random Llama-shaped model (RMSNorm, RoPE, SwiGLU, GQA;
/// weights rounded to bf16 values first, as a BF16 checkpoint's are, so only the activations' rounding differs).
/// Logits at every position of seeded random token batches: the largest |Δ logit|, relative to the largest |logit|,
/// and the top-1 agreement. The embedded model's atlas in both precisions: per detector, Spearman's rank correlation of
/// the head scores, their largest |Δ| and whether the same heads are labelled.
/// </summary>
public static class PrecisionBench
{
    public static int Run(string[] args)
    {
        Console.WriteLine($"precision: fp32 vs bf16 arithmetic ({GemmBf16.Implementation}); {WorkerPool.MaxThreads} threads");
        string embedded = Path.Combine(BenchModel.RepoRoot(), "models", "embedded");
        using var loaded = ModelLoader.Load(embedded);
        Console.WriteLine("| model | tokens | max \\|logit\\| | max \\|Δ logit\\| | relative | top-1 agreement |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        Compare("embedded (3 × 4, d 128, fp32 weights)", loaded.Model, batch: 8, length: 128, seed: 1);
        var llama = RandomLlama();
        Compare("random Llama shape (4 × 8/2 heads, d 256, MLP 688, bf16 weights)", llama, batch: 8, length: 128, seed: 2);
        if (!args.Contains("--skip-atlas")) Atlas(loaded);
        return 0;
    }

    private static void Compare(string name, Transformer model, int batch, int length, ulong seed)
    {
        var random = new SeededRandom(seed);
        var ids = new int[batch * length];
        for (int i = 0; i < ids.Length; i++) ids[i] = random.NextInt(model.Config.VocabSize);
        var tokens = new TokenBatch(ids, batch, length);
        model.Precision = ArithmeticPrecision.Fp32;
        var fp32 = model.Forward(tokens).ToArray();
        model.Precision = ArithmeticPrecision.Bf16;
        var bf16 = model.Forward(tokens).ToArray();
        model.Precision = ArithmeticPrecision.Fp32;
        int v = model.Config.VocabSize, rows = batch * length, agree = 0;
        double maxLogit = 0, maxDiff = 0;
        for (int r = 0; r < rows; r++)
        {
            var a = fp32.AsSpan(r * v, v);
            var b = bf16.AsSpan(r * v, v);
            if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(a) == System.Numerics.Tensors.TensorPrimitives.IndexOfMax(b)) agree++;
            for (int j = 0; j < v; j++)
            {
                maxLogit = Math.Max(maxLogit, Math.Abs(a[j]));
                maxDiff = Math.Max(maxDiff, Math.Abs(a[j] - b[j]));
            }
        }
        Console.WriteLine($"| {name} | {batch} × {length} | {maxLogit:F3} | {maxDiff:0.000e+0} | {maxDiff / maxLogit:0.0e+0} | {agree}/{rows} = {100.0 * agree / rows:F1} % |");
    }

    /// <summary>A Llama-shaped model with seeded random weights, every matrix rounded to bf16 values (a BF16 checkpoint's).</summary>
    private static Transformer RandomLlama()
    {
        var config = Analysis.Calibration.NullModels.Config("llama", (4, 8, 2, 256), vocabSize: 2000, bos: 0, eos: null);
        // std 0.08: larger than GPT-2's init so the random model's logits are spread (not all near zero and tied).
        var weights = RandomWeights.Create(config, 7, std: 0.08f, biases: false);
        void Round(Tensor? t)
        {
            if (t is null) return;
            var span = t.Span;
            for (int i = 0; i < span.Length; i++) span[i] = GemmBf16.RoundToBf16(span[i]);
        }
        foreach (var b in weights.Blocks)
        {
            Round(b.W_Q); Round(b.W_K); Round(b.W_V); Round(b.W_O); Round(b.W_in); Round(b.W_gate); Round(b.W_out);
        }
        Round(weights.W_E);
        Round(weights.W_U);
        return new Transformer(config, weights, "random-llama");
    }

    private static void Atlas(LoadedModel loaded)
    {
        var options = new AtlasOptions().ForModel(loaded);
        var info = AtlasModel.Of(loaded);
        loaded.Model.Precision = ArithmeticPrecision.Fp32;
        var fp32 = AtlasRunner.Run(loaded.Model, loaded.Tokenizer, info, options);
        loaded.Model.Precision = ArithmeticPrecision.Bf16;
        var bf16 = AtlasRunner.Run(loaded.Model, loaded.Tokenizer, info with { Precision = "bf16" }, options);
        loaded.Model.Precision = ArithmeticPrecision.Fp32;
        Console.WriteLine();
        Console.WriteLine("embedded model atlas, fp32 vs bf16 (head scores of every detector that ran):");
        Console.WriteLine("| detector | heads | Spearman ρ | max \\|Δ score\\| | labelled heads fp32 / bf16 / both |");
        Console.WriteLine("|---|---:|---:|---:|---|");
        foreach (var d in fp32.Detectors)
        {
            var other = bf16.Detectors.FirstOrDefault(x => x.Id == d.Id);
            if (d.Scores is null || other?.Scores is null) continue;
            var a = new List<double>();
            var b = new List<double>();
            for (int l = 0; l < d.Scores.Length; l++)
                for (int h = 0; h < d.Scores[l].Length; h++)
                    if (d.Scores[l][h] is double x && other.Scores[l][h] is double y)
                    {
                        a.Add(x);
                        b.Add(y);
                    }
            if (a.Count < 2) continue;
            double maxDiff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
            var labelsA = Labelled(fp32, d.HeadType);
            var labelsB = Labelled(bf16, d.HeadType);
            Console.WriteLine($"| {d.Id} | {a.Count} | {Spearman(a, b):F4} | {maxDiff:0.0e+0} | {labelsA.Count} / {labelsB.Count} / {labelsA.Intersect(labelsB).Count()} |");
        }
    }

    private static HashSet<(int, int)> Labelled(AtlasReport atlas, string? type) =>
        type is null ? [] : atlas.Heads.Where(h => h.Labels.Any(l => l.Type == type)).Select(h => (h.Layer, h.Head)).ToHashSet();

    /// <summary>Spearman's ρ: Pearson's correlation of the ranks (ties share their mean rank); 1 for two constant lists.</summary>
    private static double Spearman(List<double> a, List<double> b)
    {
        var ra = Ranks(a);
        var rb = Ranks(b);
        double ma = ra.Average(), mb = rb.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < ra.Length; i++)
        {
            sab += (ra[i] - ma) * (rb[i] - mb);
            saa += (ra[i] - ma) * (ra[i] - ma);
            sbb += (rb[i] - mb) * (rb[i] - mb);
        }
        return saa == 0 && sbb == 0 ? 1 : sab / Math.Sqrt(saa * sbb);
    }

    private static double[] Ranks(List<double> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && values[order[j + 1]] == values[order[i]]) j++;
            for (int t = i; t <= j; t++) ranks[order[t]] = (i + j) / 2.0;
            i = j + 1;
        }
        return ranks;
    }
}
