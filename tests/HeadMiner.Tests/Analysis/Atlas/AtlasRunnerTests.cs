using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Analysis.Atlas;

public class AtlasRunnerTests(ITestOutputHelper output)
{
    private static AtlasModel Info(LoadedModel m, bool weightsOnly = false) => new()
    {
        Path = m.Path,
        Name = Path.GetFileName(m.Path),
        Architecture = m.Model.Config.Architecture,
        Layers = m.Model.Config.Layers,
        Heads = m.Model.Config.Heads,
        KvHeads = m.Model.Config.KvHeads,
        DModel = m.Model.Config.DModel,
        ContextLength = m.Model.Config.ContextLength,
        VocabSize = m.Model.Config.VocabSize,
        WeightsOnly = weightsOnly,
        Processing = m.Model.Processing.ToString(),
    };

    private static AtlasDetector Detector(AtlasReport atlas, string id) => atlas.Detectors.Single(d => d.Id == id);

    [Fact]
    public void OnTheEmbeddedModelItFindsPreviousTokenAndInductionHeadsAndTheAblationConfirmsThem()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "models", "embedded");
        using var loaded = ModelLoader.Load(dir);
        var hints = AnalysisHints.Load(dir, loaded.Model.Config.VocabSize);
        Assert.NotNull(hints);
        var options = new AtlasOptions { Detector = new DetectorOptions { PromptTokens = hints.PromptTokens() } };
        var atlas = AtlasRunner.Run(loaded.Model, loaded.Tokenizer, Info(loaded), options);

        var previous = atlas.Heads.Where(h => h.Labels.Any(l => l.Type == "previous_token")).ToList();
        var induction = atlas.Heads.Where(h => h.Labels.Any(l => l.Type == "induction")).ToList();
        output.WriteLine($"previous-token: {string.Join(" ", previous.Select(h => $"L{h.Layer}H{h.Head}"))}; induction: {string.Join(" ", induction.Select(h => $"L{h.Layer}H{h.Head}"))}");
        Assert.NotEmpty(previous);
        Assert.All(previous, h => Assert.Equal(0, h.Layer));
        Assert.NotEmpty(induction);
        Assert.All(induction, h => Assert.True(h.Layer >= 1));
        Assert.Equal("LR", induction[0].Labels.First(l => l.Type == "induction").Stage);

        var causal = Detector(atlas, "induction").Causal;
        Assert.NotNull(causal);
        output.WriteLine($"ablating {string.Join(" ", causal.Heads.Select(h => $"L{h[0]}H{h[1]}"))}: +{causal.TopEffect:F3} nats; random heads: {string.Join(", ", causal.RandomValues.Select(v => (v - causal.Baseline).ToString("+0.000;-0.000")))}");
        Assert.True(causal.TopEffect >= 1.0, $"ablating the induction heads costs {causal.TopEffect:F3} nats");
        // Random sets of as many other heads that include an input of the induction circuit break induction too: the
        // previous-token head (the induction heads' keys read it) and, on this model, the heads whose output the
        // induction heads' queries, keys or values read (composition ≥ 2× the random baseline; the toy English's task
        // training made layer 1 feed layer 2 several ways). The draws that spare every such input must cost far less
        // than the induction heads, and the draws with one must cost more than those (else the circuit claim shows nothing).
        var composition = atlas.Composition!;
        int H = atlas.Model.Heads;
        var inductionIndex = induction.Select(h => h.Layer * H + h.Head).ToHashSet();
        var inputs = previous.Select(h => (h.Layer, h.Head)).ToHashSet();
        foreach (var (kind, m) in composition.Scores)
            for (int sender = 0; sender < m.Length; sender++)
                if (inductionIndex.Any(r => m[sender][r] is double v && v >= 2 * composition.Baseline!.Value)) inputs.Add((sender / H, sender % H));
        output.WriteLine($"the induction circuit's inputs: {string.Join(" ", inputs.Select(h => $"L{h.Layer}H{h.Head}"))}");
        var draws = causal.RandomDraws.Zip(causal.RandomValues, (heads, value) =>
            (HitsInput: heads.Any(h => inputs.Contains((h[0], h[1]))), Effect: causal.HigherIsBetter ? causal.Baseline - value : value - causal.Baseline)).ToList();
        var without = draws.Where(d => !d.HitsInput).Select(d => d.Effect).ToList();
        var with = draws.Where(d => d.HitsInput).Select(d => d.Effect).ToList();
        output.WriteLine($"random draws sparing the circuit's inputs: {string.Join(", ", without.Select(e => e.ToString("+0.000;-0.000")))}; with one: {string.Join(", ", with.Select(e => e.ToString("+0.000;-0.000")))}");
        Assert.NotEmpty(without);
        Assert.All(without, e => Assert.True(e < 0.25 * causal.TopEffect, $"a random set sparing the circuit's inputs costs {e:F3}, the induction heads {causal.TopEffect:F3}"));
        Assert.NotEmpty(with);
        Assert.True(with.Average() > without.Average() + 0.25 * causal.TopEffect, $"random sets with an input of the circuit cost {with.Average():F3} on average, without one {without.Average():F3}");

        // Per head: every labelled induction head is graded.
        foreach (var h in causal.PerHead)
            output.WriteLine($"L{h.Layer}H{h.Head} {h.Grade}: " + string.Join("; ", h.Alone.Select(a => $"{a.Ablation} {a.Effect:+0.000;-0.000} p{a.Percentile:0} (leave-one-out {a.Marginal:+0.000;-0.000} p{a.MarginalPercentile:0})")));
        Assert.All(induction, h => Assert.NotNull(causal.For(h.Layer, h.Head)?.Grade));
        Assert.All(causal.PerHead.SelectMany(h => h.Alone), a => Assert.InRange(a.Percentile!.Value, 0, 100));
        Assert.All(causal.Together, t => Assert.InRange(t.Percentile!.Value, 0, 100));
        var previousCausal = Detector(atlas, "previous_token").Causal;
        Assert.NotNull(previousCausal);
        Assert.All(previous, h => Assert.Equal(AtlasCausal.Confirmed, previousCausal.For(h.Layer, h.Head)?.Grade));
        // The toy English spells every detector's prompts and has words in pieces (issue 14): every detector runs.
        Assert.All(atlas.Detectors, d => Assert.Equal("ran", d.Status));
        Assert.Equal(atlas.Model.Layers * atlas.Model.Heads, atlas.Heads.Count);
    }

    [Fact]
    public void OnStories260KItRunsEndToEndAndReportsPreviousTokenHeads()
    {
        using var loaded = ModelLoader.Load(TestPaths.SharedFile("models/stories260K/stories260K.bin"));
        var options = new AtlasOptions { Detector = new DetectorOptions { Prompts = 8 } };
        var atlas = AtlasRunner.Run(loaded.Model, loaded.Tokenizer, Info(loaded), options);
        foreach (var d in atlas.Detectors) output.WriteLine($"{d.Id}: {d.Status} {d.Reason} {d.Seconds:F2}s");
        Assert.DoesNotContain(atlas.Detectors, d => d.Status == "failed");
        var previous = atlas.Heads.Where(h => h.Labels.Any(l => l.Type == "previous_token")).Select(h => $"L{h.Layer}H{h.Head}").ToList();
        output.WriteLine($"previous-token heads: {string.Join(" ", previous)}");
        Assert.NotEmpty(previous);
        // The report's heads carry attention examples from the detectors that labelled them.
        Assert.All(atlas.Heads.Where(h => h.Labels.Count > 0), h => Assert.NotEmpty(h.TopAttended));
    }

    [Fact]
    public void WeightsOnlyGpt2SmallGetsTheCompositionAnalysisAndStatedSkips()
    {
        using var loaded = ModelLoader.Load(TestPaths.SharedModel("gpt2-small-attention-only"), new LoadOptions { WeightsOnly = true });
        var atlas = AtlasRunner.Run(loaded.Model, loaded.Tokenizer, Info(loaded, weightsOnly: true));
        Assert.Equal("ran", Detector(atlas, "k_composition").Status);
        Assert.Equal((2, 2, 16), (atlas.Literature!.Agrees, atlas.Literature.Disagrees, atlas.Literature.NotMeasurable));
        foreach (var id in new[] { "previous_token", "induction", "ov_copying" })
        {
            Assert.Equal("skipped", Detector(atlas, id).Status);
            Assert.False(string.IsNullOrWhiteSpace(Detector(atlas, id).Reason));
        }
        var composition = atlas.Composition;
        Assert.NotNull(composition);
        Assert.Equal(144, composition.Scores["k"].Length);
        Assert.All(composition.Scores["k"], row => Assert.Equal(144, row.Length));
        // The published induction heads 5.1 and 5.5 / 6.9 read keys written by the previous-token head 4.11: among all
        // earlier heads, 4.11 is the strongest K-composition partner of 5.1 and 6.9 (the detector tests check the same).
        foreach (var (l, h) in new[] { (5, 1), (6, 9) })
        {
            int receiver = l * 12 + h;
            int best = Enumerable.Range(0, l * 12).MaxBy(s => composition.Scores["k"][s][receiver] ?? -1);
            Assert.Equal(4 * 12 + 11, best);
        }
    }

    [Fact]
    public void TheReportRoundTripsThroughJsonAndRejectsOtherSchemas()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "models", "embedded");
        using var loaded = ModelLoader.Load(dir);
        var atlas = AtlasRunner.Run(loaded.Model, loaded.Tokenizer, Info(loaded), new AtlasOptions { Detectors = "previous_token,induction,k_composition", Detector = new DetectorOptions { Prompts = 4 } });
        var back = AtlasReport.Parse(atlas.ToJson());
        Assert.Equal(atlas.ToJson(), back.ToJson());
        Assert.Equal(3, back.Detectors.Count);
        Assert.Contains("\"schema\": \"headminer.atlas\"", atlas.ToJson());
        var e = Assert.Throws<HeadMinerException>(() => AtlasReport.Parse(atlas.ToJson().Replace($"\"version\": {AtlasReport.CurrentVersion}", "\"version\": 9", StringComparison.Ordinal), "x.json"));
        Assert.Contains("x.json: atlas version 9 is newer", e.Message);
        e = Assert.Throws<HeadMinerException>(() => AtlasReport.Parse("{\"schema\": 3", "y.json"));
        Assert.StartsWith("y.json: not a valid atlas", e.Message);
    }
}
