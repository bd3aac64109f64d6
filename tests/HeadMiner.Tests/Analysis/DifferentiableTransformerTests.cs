using HeadMiner.Analysis.Attribution;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;
using HeadMiner.Tests.Models;
using HeadMiner.Tests.Reference;

namespace HeadMiner.Tests.Analysis;

/// <summary>
/// The autodiff rebuild of the forward pass against the inference <see cref="Transformer"/>: same logits on every tiny
/// architecture (GPT-2, parallel NeoX with partial rotary, Llama with GQA and RMSNorm, interleaved rotary with a
/// sliding window, Phi-3's LongRoPE), and gradients that match finite differences of the inference model itself.
/// </summary>
public class DifferentiableTransformerTests
{
    public static TheoryData<int> Configs => [0, 1, 2, 3, 4, 5, 6, 7, 8];

    [Theory]
    [MemberData(nameof(Configs))]
    public void LogitsEqualTheInferenceForward(int config)
    {
        var c = TinyModels.All[config];
        using var model = TinyModels.Create(c);
        const int sequences = 3, length = 11;
        var ids = TinyModels.Tokens(c, sequences * length, 41);
        var batch = new TokenBatch(ids, sequences, length);
        var expected = model.Forward(batch).ToArray();
        var forward = new DifferentiableTransformer(model);
        var all = forward.Run(batch, withGradient: false, lastOnly: false);
        Close.Scaled(all.Logits.Value.Span, [.. expected.Select(v => (double)v)], 2e-5, $"{c.Architecture} logits");
        var last = forward.Run(batch, withGradient: true, lastOnly: true);
        int v = c.VocabSize;
        for (int s = 0; s < sequences; s++)
            Close.Scaled(last.Logits.Value.Span.Slice(s * v, v), [.. expected.AsSpan(((s + 1) * length - 1) * v, v).ToArray().Select(x => (double)x)], 2e-5, $"last logits of sequence {s}");
        Assert.Equal(0, all.Tape.Count); // no gradient asked: nothing recorded
        Assert.True(last.Tape.Count > 0);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void HeadOutputGradientsMatchFiniteDifferencesOfTheInferenceModel(int config)
    {
        var c = TinyModels.All[config];
        using var model = TinyModels.Create(c);
        var pairs = new TokenizedPairs([TinyModels.Tokens(c, 9, 3), TinyModels.Tokens(c, 9, 4)], [TinyModels.Tokens(c, 9, 5), TinyModels.Tokens(c, 9, 6)], [5, 9], [7, 2]);
        var forward = new DifferentiableTransformer(model);
        var run = forward.Run(pairs.CorruptedBatch(), withGradient: true);
        var (_, gradient) = MetricGradient.Compute(MetricKind.LogitDiff, pairs, run.Logits.Value);
        DifferentiableTransformer.Backward(run, gradient);

        // d(logit_diff)/d(hook_z) at a few coordinates, against central differences of the inference model nudged by a hook.
        int H = c.Heads, dh = c.DHead, T = pairs.Length;
        (int Layer, int Pair, int Position, int Head, int Dim)[] probes = [(0, 0, 2, 1, 3), (0, 1, 8, 0, 0), (1, 0, 5, H - 1, dh - 1), (1, 1, 8, 2, 4)];
        foreach (var (l, i, p, h, j) in probes)
        {
            const float eps = 1e-2f;
            double Metric(float delta)
            {
                var hooks = new HookSet(c);
                hooks.Add(HookName.Of(ActivationSite.Z, l), (a, _) => a[i, p, h, j] += delta);
                var logits = model.Run(pairs.CorruptedBatch(), new ForwardOptions { Hooks = hooks, LastOnly = true }).Logits!;
                return new Metric(MetricKind.LogitDiff, pairs).Compute(logits);
            }
            double numeric = (Metric(eps) - Metric(-eps)) / (2 * eps);
            double analytic = run.Z[l].Gradient!.Span[((i * T + p) * H + h) * dh + j];
            Assert.True(Math.Abs(numeric - analytic) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"{c.Architecture} z[{l}] pair {i} pos {p} head {h} dim {j}: autodiff {analytic}, finite difference {numeric}");
        }
        // And d(logit_diff)/d(hook_mlp_out).
        foreach (var (l, i, p, j) in new[] { (0, 1, 8, 5), (1, 0, 8, 0), (1, 1, 3, c.DModel - 1) })
        {
            const float eps = 1e-2f;
            double Metric(float delta)
            {
                var hooks = new HookSet(c);
                hooks.Add(HookName.Of(ActivationSite.MlpOut, l), (a, _) => a[i, p, j] += delta);
                var logits = model.Run(pairs.CorruptedBatch(), new ForwardOptions { Hooks = hooks, LastOnly = true }).Logits!;
                return new Metric(MetricKind.LogitDiff, pairs).Compute(logits);
            }
            double numeric = (Metric(eps) - Metric(-eps)) / (2 * eps);
            double analytic = run.MlpOut[l].Gradient!.Span[(i * T + p) * c.DModel + j];
            Assert.True(Math.Abs(numeric - analytic) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"{c.Architecture} mlp_out[{l}] pair {i} pos {p} dim {j}: autodiff {analytic}, finite difference {numeric}");
        }
    }

    [Fact]
    public void MetricValuesEqualTheMetricClass()
    {
        var c = TinyModels.LlamaLike();
        using var model = TinyModels.Create(c);
        var pairs = new TokenizedPairs([TinyModels.Tokens(c, 7, 13), TinyModels.Tokens(c, 7, 14), TinyModels.Tokens(c, 7, 15)],
            [TinyModels.Tokens(c, 7, 16), TinyModels.Tokens(c, 7, 17), TinyModels.Tokens(c, 7, 18)], [1, 2, 3], [4, 5, 6]);
        var clean = model.Forward(pairs.CleanBatch(), lastOnly: true);
        var corrupted = model.Forward(pairs.CorruptedBatch(), lastOnly: true);
        foreach (var kind in new[] { MetricKind.LogitDiff, MetricKind.ProbDiff, MetricKind.KlDivergence })
        {
            var (value, g) = MetricGradient.Compute(kind, pairs, corrupted.Reshape(3, -1), clean.Reshape(3, -1));
            double expected = new Metric(kind, pairs, clean).Compute(corrupted);
            Assert.Equal(expected, value, 1e-5);
            // The gradient against central differences of the metric in the logits themselves.
            var logits = corrupted.Contiguous().ToArray();
            foreach (int k in new[] { 1, 4, c.VocabSize + 2, 2 * c.VocabSize + 6, 2 * c.VocabSize + 30 })
            {
                double At(float delta)
                {
                    var copy = (float[])logits.Clone();
                    copy[k] += delta;
                    return new Metric(kind, pairs, clean).Compute(Tensor.Wrap(copy, 3, 1, c.VocabSize));
                }
                double numeric = (At(1e-2f) - At(-1e-2f)) / 2e-2;
                Assert.True(Math.Abs(numeric - g.Span[k]) <= 1e-4 + 1e-2 * Math.Abs(numeric), $"{kind} d/dlogit[{k}]: {g.Span[k]} vs {numeric}");
            }
        }
    }

    [Fact]
    public void PaddedBatchesAreRefusedWithAClearMessage()
    {
        using var model = TinyModels.Create(TinyModels.Gpt2Like());
        var batch = TokenBatch.LeftPadded([[1, 2, 3], [4, 5]], padId: 0);
        var e = Assert.Throws<HeadMinerException>(() => new DifferentiableTransformer(model).Run(batch, withGradient: true));
        Assert.Contains("padding", e.Message);
    }
}
