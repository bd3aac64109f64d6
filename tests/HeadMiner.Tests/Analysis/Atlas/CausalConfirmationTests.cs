using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tests.Analysis.Detectors;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Analysis.Atlas;

/// <summary>Per-head causal evidence and its grade (<see cref="CausalConfirmation"/>), and the mean / resample ablations behind it (<see cref="ZRecording"/>).</summary>
public class CausalConfirmationTests(ITestOutputHelper output)
{
    private static readonly Lazy<AtlasReport> Planted = new(() =>
    {
        var model = PlantedHeads.Create();
        var options = new AtlasOptions
        {
            Detectors = "previous_token,duplicate_token,induction,attention_sink",
            Detector = new DetectorOptions { Prompts = 8, SegmentLength = 11, Seed = 3 },
        };
        var info = AtlasModel.InMemory(model, "planted");
        return AtlasRunner.Run(model, null, info, options);
    });

    private static AtlasCausal Causal(AtlasReport atlas, string id) =>
        atlas.Detectors.Single(d => d.Id == id).Causal ?? throw new Xunit.Sdk.XunitException($"{id} has no causal check");

    private void Show(AtlasCausal causal)
    {
        foreach (var h in causal.PerHead)
            output.WriteLine($"L{h.Layer}H{h.Head} {h.Grade}: " + string.Join("; ", h.Alone.Select(a => $"{a.Ablation} {a.Effect:+0.000;-0.000} p{a.Percentile:0}")) + $" — {h.GradeReason}");
    }

    [Fact]
    public void APlantedHeadWithoutDownstreamEffectIsPatternOnly()
    {
        // L0H0 attends to duplicates but its OV is zero: no ablation of its z can change anything downstream.
        var causal = Causal(Planted.Value, "duplicate_token");
        Show(causal);
        var head = causal.For(PlantedHeads.Duplicate.Layer, PlantedHeads.Duplicate.Head);
        Assert.NotNull(head);
        Assert.True(head.Labelled);
        Assert.Equal(AtlasCausal.PatternOnly, head.Grade);
        Assert.Equal(3, head.Alone.Count);
        Assert.All(head.Alone, a => Assert.Equal(0, a.Effect));
        Assert.Contains("repeated", causal.Metric); // no tokenizer: no IOI set, so the repeated-tokens loss
    }

    [Fact]
    public void ThePlantedInductionCircuitIsCausallyConfirmed()
    {
        var induction = Causal(Planted.Value, "induction");
        var previous = Causal(Planted.Value, "previous_token");
        Show(induction);
        Show(previous);
        Assert.Equal(AtlasCausal.Confirmed, induction.For(PlantedHeads.Induction.Layer, PlantedHeads.Induction.Head)?.Grade);
        Assert.Equal(AtlasCausal.Confirmed, previous.For(PlantedHeads.Previous.Layer, PlantedHeads.Previous.Head)?.Grade);
        // Both tasks are the same repeated-tokens loss, evaluated once: the same clean value and the same random heads' effects.
        Assert.Equal(induction.Baseline, previous.Baseline);
        Assert.Equal(induction.Metric, previous.Metric);
        // The attention sink has no task metric, so no grade.
        Assert.Null(Planted.Value.Detectors.Single(d => d.Id == "attention_sink").Causal);
    }

    [Fact]
    public void RandomHeadsAreAUniformSampleOfThePool()
    {
        // 3 layers × 5 heads, two heads excluded: every one of the 13 others is drawn with probability k/13.
        var config = PlantedHeads.Create().Config with { Layers = 3, Heads = 5 };
        var pool = new List<(int Layer, int Head)>();
        for (int l = 0; l < 3; l++)
            for (int h = 0; h < 5; h++)
                if ((l, h) != (0, 1) && (l, h) != (2, 4)) pool.Add((l, h));
        const int k = 4, trials = 13_000;
        var counts = new Dictionary<(int, int), int>();
        for (int t = 0; t < trials; t++)
        {
            var drawn = CausalConfirmation.FirstInPool(config, (ulong)t, 0, pool, k);
            Assert.Equal(k, drawn.Distinct().Count());
            Assert.All(drawn, h => Assert.Contains(h, pool));
            foreach (var h in drawn) counts[h] = counts.GetValueOrDefault(h) + 1;
        }
        Assert.Equal(pool.Count, counts.Count);
        double expected = trials * (double)k / pool.Count; // 4,000; binomial sd ≈ 53
        Assert.All(counts.Values, c => Assert.InRange(c, expected - 250, expected + 250));
    }

    [Fact]
    public void DetectorsOfOneTaskShareTheirRandomHeadsExceptTheirOwnLabels()
    {
        // Same seed, pools that differ by the excluded heads: the draws agree on everything the other pool also has.
        var config = PlantedHeads.Create().Config with { Layers = 7, Heads = 9 };
        var all = Enumerable.Range(0, 7).SelectMany(l => Enumerable.Range(0, 9).Select(h => (Layer: l, Head: h))).ToList();
        var poolA = all.Where(h => h != (6, 1)).ToList();
        var poolB = all.Where(h => h != (2, 3) && h != (4, 4)).ToList();
        for (ulong seed = 1; seed <= 20; seed++)
        {
            var a = CausalConfirmation.FirstInPool(config, seed, 0, poolA, 8);
            var b = CausalConfirmation.FirstInPool(config, seed, 0, poolB, 8);
            // At most one head of each side is replaced per head the other side excludes.
            Assert.True(a.Except(b).Count() <= 2, $"seed {seed}: {string.Join(",", a)} vs {string.Join(",", b)}");
            // Other streams (the random sets) are other orders.
            Assert.NotEqual(a, CausalConfirmation.FirstInPool(config, seed, 1, poolA, 8));
        }
        // Through the atlas: induction and previous_token run the same task, so the second check re-evaluates only
        // the ablations the first did not already run.
        var induction = Causal(Planted.Value, "induction");
        var previous = Causal(Planted.Value, "previous_token");
        var zeroA = previous.RandomAlone.Single(r => r.Ablation == "zero").Heads.Select(h => (h[0], h[1])).ToHashSet();
        var zeroB = induction.RandomAlone.Single(r => r.Ablation == "zero").Heads.Select(h => (h[0], h[1])).ToHashSet();
        Assert.True(zeroA.Intersect(zeroB).Count() >= zeroA.Count - 3, $"{string.Join(",", zeroA)} vs {string.Join(",", zeroB)}");
    }

    [Fact]
    public void PercentilesAreMidRanksInZeroToHundred()
    {
        Assert.Null(CausalConfirmation.Percentile(1, []));
        Assert.Equal(100, CausalConfirmation.Percentile(5, [1, 2, 3, 4]));
        Assert.Equal(0, CausalConfirmation.Percentile(0, [1, 2, 3, 4]));
        Assert.Equal(50, CausalConfirmation.Percentile(2.5, [1, 2, 3, 4]));
        Assert.Equal(62.5, CausalConfirmation.Percentile(3, [1, 2, 3, 4])); // two below, one equal
        foreach (var d in Planted.Value.Detectors.Where(d => d.Causal is not null))
        {
            foreach (var h in d.Causal!.PerHead)
                Assert.All(h.Alone, a => Assert.InRange(a.Percentile!.Value, 0, 100));
            Assert.All(d.Causal.Together, t => Assert.InRange(t.Percentile!.Value, 0, 100));
        }
    }

    [Fact]
    public void MeanAblationWritesTheMeanOverPromptsAndPositions()
    {
        var model = PlantedHeads.Create();
        var (layer, head) = PlantedHeads.Induction;
        var prompts = Prompts(3, 10, seed: 5);
        var recording = ZRecording.Record(model.Config, [(layer, head)], hooks => model.RunWithHooks(prompts, hooks), seed: 1);

        // The mean, computed here from a plain cache of the same run.
        var cache = new HookSet(model.Config);
        var seen = new List<Tensor>();
        cache.Add(HookName.Of(ActivationSite.Z, layer), (z, _) => seen.Add(z.Clone()));
        model.RunWithHooks(prompts, cache);
        var z0 = seen.Single();
        int dh = z0.Dim(3);
        var expected = new double[dh];
        for (int b = 0; b < 3; b++)
            for (int t = 0; t < 10; t++)
                for (int k = 0; k < dh; k++) expected[k] += z0[b, t, head, k] / 30.0;
        var mean = recording.Mean(layer, head);
        for (int k = 0; k < dh; k++) Assert.Equal(expected[k], mean[0, k], 5);
        Assert.Contains(expected, v => Math.Abs(v) > 1e-3); // not a trivially zero head

        // Under mean ablation every prompt and position of that head carries the mean; other heads are untouched.
        var hooks = new HookSet(model.Config);
        recording.AddMean(hooks, layer, head);
        Tensor? ablated = null;
        hooks.Add(HookName.Of(ActivationSite.Z, layer), (z, _) => ablated = z.Clone());
        model.RunWithHooks(prompts, hooks);
        for (int b = 0; b < 3; b++)
            for (int t = 0; t < 10; t++)
                for (int k = 0; k < dh; k++)
                {
                    Assert.Equal(mean[0, k], ablated![b, t, head, k]);
                    Assert.Equal(z0[b, t, 0, k], ablated[b, t, 0, k]);
                }
    }

    [Fact]
    public void ResampleAblationTakesTheHeadsZFromAnotherPromptOfTheSameLength()
    {
        var model = PlantedHeads.Create();
        var (layer, head) = PlantedHeads.Previous;
        // Three forwards: 4 prompts of 10 tokens, 2 of 12, and 1 of 8 (no partner: it gets the mean).
        TokenBatch[] batches = [Prompts(4, 10, seed: 1), Prompts(2, 12, seed: 2), Prompts(1, 8, seed: 3)];
        void Run(HookSet hooks)
        {
            foreach (var batch in batches) model.RunWithHooks(batch, hooks);
        }
        var recording = ZRecording.Record(model.Config, [(layer, head)], Run, seed: 7);
        Assert.Equal(7, recording.Rows);
        Assert.Equal(1, recording.ResampleFallbacks);

        var clean = new List<Tensor>();
        var cleanHooks = new HookSet(model.Config);
        cleanHooks.Add(HookName.Of(ActivationSite.Z, layer), (z, _) => clean.Add(z.Clone()));
        Run(cleanHooks);

        var hooks = new HookSet(model.Config);
        recording.AddResample(hooks, layer, head);
        var ablated = new List<Tensor>();
        hooks.Add(HookName.Of(ActivationSite.Z, layer), (z, _) => ablated.Add(z.Clone()));
        Run(hooks);
        Assert.Equal(3, ablated.Count);
        int dh = clean[0].Dim(3);
        for (int c = 0; c < 3; c++)
        {
            for (int b = 0; b < batches[c].Batch; b++)
            {
                var (sc, sr) = recording.SourceOf(c, b);
                if (c == 2)
                {
                    Assert.Equal((-1, -1), (sc, sr));
                    for (int k = 0; k < dh; k++) Assert.Equal(recording.Mean(layer, head)[0, k], ablated[c][b, 3, head, k]);
                    continue;
                }
                Assert.NotEqual((c, b), (sc, sr));
                Assert.Equal(batches[c].Length, batches[sc].Length);
                for (int t = 0; t < batches[c].Length; t++)
                    for (int k = 0; k < dh; k++)
                    {
                        Assert.Equal(clean[sc][sr, t, head, k], ablated[c][b, t, head, k]);
                        Assert.Equal(clean[c][b, t, 0, k], ablated[c][b, t, 0, k]); // another head keeps its own z
                    }
            }
        }
        // Seeded: the same seed gives the same sources.
        var again = ZRecording.Record(model.Config, [(layer, head)], Run, seed: 7);
        for (int b = 0; b < 4; b++) Assert.Equal(recording.SourceOf(0, b), again.SourceOf(0, b));

        // A run whose forwards differ from the recorded ones is an error, not a silent mismatch.
        var wrong = new HookSet(model.Config);
        recording.AddResample(wrong, layer, head);
        Assert.Throws<HeadMinerException>(() => model.RunWithHooks(batches[1], wrong));
    }

    private static TokenBatch Prompts(int count, int length, ulong seed)
    {
        var random = new SeededRandom(seed);
        var ids = new int[count * length];
        for (int i = 0; i < ids.Length; i++) ids[i] = i % length == 0 ? PlantedHeads.Bos : 1 + random.NextInt(PlantedHeads.Vocab - 1);
        return new TokenBatch(ids, count, length);
    }
}
