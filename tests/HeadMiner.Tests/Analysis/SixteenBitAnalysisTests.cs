using HeadMiner.Analysis;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Attribution;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using HeadMiner.Models.Architectures;
using HeadMiner.Models.Formats;
using HeadMiner.Tasks;
using HeadMiner.Tensors;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis;

/// <summary>
/// The analyses keep 16-bit weights 16-bit (issue 15: memory is the mapped checkpoint plus activations): the atlas
/// and the logit lens on a BF16 checkpoint never widen a whole weight matrix, and the OV factor that is formed over
/// vocabulary chunks (so the embedding is never widened whole) equals the product formed in double precision.
/// </summary>
public class SixteenBitAnalysisTests
{
    /// <summary>A vocabulary of two and a bit chunks of <c>OvCircuit</c>'s 8192 rows, so the chunked sum has a short last chunk.</summary>
    private static readonly ModelConfig Shape = RandomWeights.Gpt2SmallConfig() with
    {
        VocabSize = 2 * 8192 + 37,
        DModel = 24,
        Layers = 2,
        Heads = 3,
        KvHeads = 3,
        DHead = 8,
        DMlp = 72,
        ContextLength = 96,
        AttentionScale = 1 / MathF.Sqrt(8),
        AttentionWindow = new int[2],
        BosTokenId = 0,
        EosTokenId = 0,
    };

    private static LoadedModel LoadBf16(TestPaths.TempDirectory dir)
    {
        var writer = new SafetensorsWriter();
        foreach (var (name, tensor) in Gpt2Export.Tensors(Shape, RandomWeights.Create(Shape, seed: 11))) writer.Add(name, tensor, SafetensorsDType.BF16);
        writer.Save(dir.File("model.safetensors"));
        File.WriteAllText(dir.File("config.json"), Gpt2Export.ConfigJson(Shape));
        return ModelLoader.Load(dir.Path);
    }

    /// <summary>The 16-bit storages of the model's matrices, named (norm weights and biases are small and may be widened whole).</summary>
    private static List<(string Name, HalfStorage Storage)> Matrices(Transformer model)
    {
        var w = model.Weights;
        var named = new List<(string, Tensor?)> { ("W_E", w.W_E), ("W_U", w.W_U) };
        foreach (var b in w.Blocks)
            named.AddRange([($"blocks.{b.Layer}.W_Q", b.W_Q), ($"blocks.{b.Layer}.W_K", b.W_K), ($"blocks.{b.Layer}.W_V", b.W_V),
                ($"blocks.{b.Layer}.W_O", b.W_O), ($"blocks.{b.Layer}.W_in", b.W_in), ($"blocks.{b.Layer}.W_out", b.W_out)]);
        return [.. named.Where(n => n.Item2?.Half is not null).Select(n => (n.Item1, n.Item2!.Half!))];
    }

    [Fact]
    public void TheAtlasAndTheLogitLensWidenNoWholeMatrix()
    {
        using var dir = TestPaths.NewTempDirectory();
        using var loaded = LoadBf16(dir);
        var matrices = Matrices(loaded.Model);
        Assert.True(matrices.Count >= 12, $"only {matrices.Count} matrices are 16-bit");

        var atlas = AtlasRunner.Run(loaded.Model, null, AtlasModel.Of(loaded),
            new AtlasOptions { Detector = new DetectorOptions { Prompts = 4 }, RandomHeads = 4, RandomDraws = 3 });
        var ran = atlas.Detectors.Where(d => d.Status == "ran").ToList();
        // Without a tokenizer the pattern, weight and random-token detectors run: forwards, OV and QK circuits, ablations.
        Assert.Contains(ran, d => d.Id == "ov_copying");
        Assert.Contains(ran, d => d.Id == "k_composition");
        Assert.Contains(ran, d => d.Id == "induction");
        foreach (var (name, storage) in matrices) Assert.True(storage.Widenings == 0, $"the atlas widened all of {name}");
        // Time and memory per phase: every detector that ran reports its peak resident set, which holds at least the
        // runtime and the weights it read.
        if (OperatingSystem.IsLinux())
            Assert.All(ran, d => Assert.True(d.PeakRssMiB > 10, $"{d.Id}: peak {d.PeakRssMiB} MiB"));

        var lens = LogitLens.Run(loaded.Model, TinyModels.Tokens(Shape, 7, 9));
        Assert.Equal(Shape.Layers + 1, lens.Layers.Count);
        foreach (var (name, storage) in matrices) Assert.True(storage.Widenings == 0, $"the logit lens widened all of {name}");
    }

    /// <summary>
    /// Attribution patching (the gradient graph) reads the 16-bit embedding and MLP matrices in place and gives the
    /// same numbers as on a float32 checkpoint holding the same (widened) values: the GEMM widens B while packing and
    /// then computes exactly what it computes for float32 B.
    /// </summary>
    [Fact]
    public void AttributionPatchingOnSixteenBitWeightsWidensNothingAndMatchesFloat32()
    {
        using var dir = TestPaths.NewTempDirectory();
        using var half = LoadBf16(dir);
        using var wideDir = TestPaths.NewTempDirectory();
        var writer = new SafetensorsWriter();
        foreach (var (name, tensor) in Gpt2Export.Tensors(Shape, half.Model.Weights)) writer.Add(name, tensor.Clone(), SafetensorsDType.F32);
        writer.Save(wideDir.File("model.safetensors"));
        File.WriteAllText(wideDir.File("config.json"), Gpt2Export.ConfigJson(Shape));
        using var wide = ModelLoader.Load(wideDir.Path);

        var pairs = RepeatsModelFixture.Pairs(3, seed: 5);
        var fromHalf = AttributionPatching.Nodes(half.Model, pairs, MetricKind.LogitDiff);
        foreach (var (name, storage) in Matrices(half.Model)) Assert.True(storage.Widenings == 0, $"attribution patching widened all of {name}");
        var fromWide = AttributionPatching.Nodes(wide.Model, pairs, MetricKind.LogitDiff);
        Assert.Equal(fromWide.CleanMetric, fromHalf.CleanMetric);
        Assert.Equal(fromWide.HeadsRaw.ToArray(), fromHalf.HeadsRaw.ToArray());
        Assert.Equal(fromWide.MlpRaw.ToArray(), fromHalf.MlpRaw.ToArray());
    }

    [Fact]
    public void TheChunkedOvFactorEqualsTheProductInDoublePrecision()
    {
        using var dir = TestPaths.NewTempDirectory();
        using var loaded = LoadBf16(dir);
        var model = loaded.Model;
        var factors = OvCircuit.Factors(model);
        int d = Shape.DModel, dh = Shape.DHead, V = Shape.VocabSize;
        var we = model.Weights.W_E.ToArray(); // [V, d], exact bf16 values
        var ue = new double[d * d]; // W_U W_E = W_Eᵀ W_E (tied)
        for (int t = 0; t < V; t++)
            for (int i = 0; i < d; i++)
            {
                double a = we[t * d + i];
                for (int j = 0; j < d; j++) ue[i * d + j] += a * we[t * d + j];
            }
        foreach (var (layer, head) in new[] { (0, 0), (1, 2) })
        {
            var wo = model.Weights.Blocks[layer].W_O.Select(0, head).ToArray(); // [dh, d]
            var wv = model.Weights.Blocks[layer].W_V.Select(0, head).ToArray(); // [d, dh]
            double norm = 0, worst = 0;
            for (int r = 0; r < dh; r++)
                for (int c = 0; c < dh; c++)
                {
                    double expected = 0;
                    for (int i = 0; i < d; i++)
                    {
                        double left = 0;
                        for (int j = 0; j < d; j++) left += wo[r * d + j] * ue[j * d + i];
                        expected += left * wv[i * dh + c];
                    }
                    norm = Math.Max(norm, Math.Abs(expected));
                    worst = Math.Max(worst, Math.Abs(factors[layer][head][r * dh + c] - expected));
                }
            // float32 sums of 16,421 products: a few float32 ulps of the largest entry, far below a dropped or doubled chunk (≈ a third of it).
            Assert.True(worst <= 1e-4 * norm, $"L{layer}H{head}: largest error {worst:E2} against entries up to {norm:E2}");
        }
        Assert.Equal(0, model.Weights.W_E.Half!.Widenings);
    }
}
