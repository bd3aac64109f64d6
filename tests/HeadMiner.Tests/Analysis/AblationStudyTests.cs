using HeadMiner.Analysis.Ablation;
using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis;

public class AblationStudyTests
{
    public static TheoryData<int, AblationKind, MetricKind, bool> Cases => new()
    {
        { 0, AblationKind.Zero, MetricKind.LogitDiff, true },
        { 1, AblationKind.Mean, MetricKind.ProbDiff, true },
        { 2, AblationKind.Resample, MetricKind.KlDivergence, true },
        { 3, AblationKind.Zero, MetricKind.Loss, true },
        { 4, AblationKind.Mean, MetricKind.LogitDiff, true },
        { 5, AblationKind.Resample, MetricKind.LogitDiff, true },
        { 0, AblationKind.Resample, MetricKind.LogitDiff, false },
        { 2, AblationKind.Mean, MetricKind.LogitDiff, false },
    };

    private static TokenizedPairs Pairs(ModelConfig c, int n, int length, ulong seed)
    {
        var clean = Enumerable.Range(0, n).Select(i => TinyModels.Tokens(c, length, seed + (ulong)i)).ToArray();
        var corrupted = Enumerable.Range(0, n).Select(i => TinyModels.Tokens(c, length, seed + 100 + (ulong)i)).ToArray();
        return new TokenizedPairs(clean, corrupted,
            Enumerable.Range(0, n).Select(i => (i * 7 + 3) % c.VocabSize).ToArray(),
            Enumerable.Range(0, n).Select(i => (i * 5 + 11) % c.VocabSize).ToArray());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheBatchedStudyEqualsOneForwardPerHead(int index, AblationKind kind, MetricKind metric, bool resume)
    {
        var c = TinyModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = Pairs(c, 3, 6, 30);
        // 2 heads per forward: layers of 3 heads end with a short chunk. The loop runs full forwards through
        // HeadAblation, so it also checks that resuming from the clean resid_pre changes nothing.
        var options = new AblationStudyOptions { Kind = kind, Metric = metric, HeadsPerForward = 2, ResumeFromCleanResidual = resume };
        var batched = AblationStudy.Run(model, pairs, options);
        var loop = AblationStudy.RunOneForwardPerHead(model, pairs, options);
        Assert.Equal(c.Layers * c.Heads, batched.Effects.Count);
        Assert.Equal(c.Layers * ((c.Heads + 1) / 2), batched.Forwards);
        Assert.Equal(loop.BaselineMetric, batched.BaselineMetric);
        for (int i = 0; i < loop.Effects.Count; i++)
        {
            var (a, b) = (batched.Effects[i], loop.Effects[i]);
            Assert.Equal((b.Layer, b.Head), (a.Layer, a.Head));
            Assert.Equal(b.Metric, a.Metric, 1e-5);
            Assert.Equal(b.Loss, a.Loss, 1e-5);
        }
        Assert.True(batched.Effects.Max(e => Math.Abs(e.DeltaLoss)) > 1e-4, "no head changed the loss: the comparison shows nothing");
    }

    [Fact]
    public void ZeroAblationOfAHeadEqualsTheHeadAblationZeroRun()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        var pairs = Pairs(c, 2, 7, 40);
        var study = AblationStudy.Run(model, pairs, new AblationStudyOptions { Kind = AblationKind.Zero, Metric = MetricKind.LogitDiff });
        Assert.Equal(c.Layers, study.Forwards); // one forward per layer: its 3 heads × 2 pairs × 7 tokens fit
        var hooks = new HookSet(c);
        HeadAblation.Zero(hooks, 1, 2);
        var logits = model.RunWithHooks(pairs.CleanBatch(), hooks);
        var effect = study.Effects.Single(e => e.Layer == 1 && e.Head == 2);
        Assert.Equal(new Metric(MetricKind.LogitDiff, pairs).Compute(logits), effect.Metric, 1e-5);
        Assert.Equal(new Metric(MetricKind.Loss, pairs).Compute(logits), effect.Loss, 1e-5);
        Assert.True(Math.Abs(effect.Delta) > 1e-4, "zero-ablating the head changed nothing: the test shows nothing");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void MeanOrCleanResampleOverASinglePromptChangesNothing(int index)
    {
        // The mean of one sample is that sample, and the only permutation of one prompt is itself: a real no-op.
        var c = TinyModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = Pairs(c, 1, 8, 50);
        var mean = AblationStudy.Run(model, pairs, new AblationStudyOptions { Kind = AblationKind.Mean, Metric = MetricKind.LogitDiff });
        var resample = AblationStudy.Run(model, pairs, new AblationStudyOptions { Kind = AblationKind.Resample, ResampleFrom = ResampleSource.CleanPermutation });
        Assert.All(mean.Effects.Concat(resample.Effects), e =>
        {
            Assert.Equal(0, e.Delta, 1e-5);
            Assert.Equal(0, e.DeltaLoss, 1e-5);
        });
        var zero = AblationStudy.Run(model, pairs, new AblationStudyOptions { Kind = AblationKind.Zero });
        Assert.Contains(zero.Effects, e => Math.Abs(e.Delta) > 1e-4);
    }
}
