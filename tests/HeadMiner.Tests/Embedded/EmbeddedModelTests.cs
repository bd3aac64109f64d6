using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tasks.Synthetic;
using HeadMiner.Tensors;
using HeadMiner.Training;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Embedded;

/// <summary>
/// The committed embedded model (models/embedded) has the heads its toy language was built to produce, shown by
/// attention scores and by causal tests, and it is what `train --preset embedded` produces. Scores here are computed
/// directly from hook_pattern (not through the detectors), so they check the model and the detectors independently.
/// </summary>
public class EmbeddedModelTests(ITestOutputHelper output)
{
    private static string Directory => Path.Combine(TestPaths.RepoRoot, "models", "embedded");
    private const int SegmentLength = 24, Sequences = 24;

    private static LoadedModel Load()
    {
        Assert.True(File.Exists(Path.Combine(Directory, "config.json")), $"{Directory}/config.json is missing: the embedded model must be committed");
        return ModelLoader.Load(Directory);
    }

    [Fact]
    public void IsCompleteSmallAndThePresetsShape()
    {
        long bytes = new DirectoryInfo(Directory).GetFiles().Where(f => f.Name is "config.json" or "model.safetensors" or "tokenizer.json").Sum(f => f.Length);
        Assert.True(bytes <= 4 << 20, $"the embedded model takes {bytes:N0} bytes, more than 4 MiB");
        using var loaded = Load();
        var c = loaded.Model.Config;
        var p = TrainingPreset.Embedded.Config;
        Assert.Equal((p.Layers, p.Heads, p.DModel, p.DMlp, p.VocabSize, p.ContextLength), (c.Layers, c.Heads, c.DModel, c.DMlp, c.VocabSize, c.ContextLength));
        Assert.Empty(loaded.UnusedTensors);
        var tokenizer = loaded.RequireTokenizer();
        Assert.Equal(c.VocabSize, tokenizer.VocabSize);
        Assert.Equal("<bos> w3 Mon", tokenizer.Decode(tokenizer.Encode("w3 Mon")));
    }

    [Fact]
    public void TheCommittedCurveStartsExactlyAsThePresetTrains()
    {
        // Same data order, initialisation and options give the same first losses bit for bit, so the committed model
        // is this preset's run (the whole run is `headminer train --preset embedded`, about 5 minutes on 2 cores).
        var committed = TrainingCurve.ReadCsv(Path.Combine(Directory, TrainingCheckpoint.CurveCsvName));
        var preset = TrainingPreset.Embedded;
        // The full run's options (the schedule depends on the total step count), stopped after 3 steps.
        var trainer = new Trainer(new Gpt2TrainingModel(preset.Config, preset.Options.Seed), preset.Data(), preset.Options with { EvalEvery = 0 });
        using var cancel = new CancellationTokenSource();
        var stop = new StopAfter(3, cancel);
        Assert.Throws<OperationCanceledException>(() => trainer.Run(stop, cancel.Token));
        Assert.Equal(3, trainer.Curve.Points.Count);
        for (int i = 0; i < 3; i++) Assert.Equal(committed.Points[i].TrainLoss, trainer.Curve.Points[i].TrainLoss);
        Assert.Equal(preset.Options.Steps, committed.Points.Count);
    }

    [Fact]
    public void TheCurveShowsTheInductionPhaseChange()
    {
        var curve = TrainingCurve.ReadCsv(Path.Combine(Directory, TrainingCheckpoint.CurveCsvName));
        var induction = curve.Points.Where(p => p.EvalLosses is not null && p.EvalLosses.ContainsKey("induction"))
            .Select(p => (p.Step, Loss: p.EvalLosses!["induction"])).ToList();
        var text = curve.Points.Where(p => p.EvalLosses is not null && p.EvalLosses.ContainsKey("text")).Select(p => p.EvalLosses!["text"]).ToList();
        double start = induction.Take(3).Max(x => x.Loss), end = induction[^1].Loss;
        output.WriteLine($"induction loss {start:F2} → {end:F2}; text {text[0]:F2} → {text[^1]:F2}");
        Assert.True(start > 4.5, $"induction loss starts at {start}, not near chance (ln 192 ≈ 5.26)");
        Assert.True(end < 1.0, $"induction loss ends at {end}");
        // "Sharply": most of the fall happens within a tenth of the run, after a plateau.
        long window = curve.Points.Count / 10;
        double bestDrop = 0;
        long at = 0;
        foreach (var (step, loss) in induction)
        {
            var later = induction.Where(x => x.Step > step && x.Step <= step + window).ToList();
            if (later.Count == 0) continue;
            double drop = loss - later.Min(x => x.Loss);
            if (drop > bestDrop) (bestDrop, at) = (drop, step);
        }
        output.WriteLine($"largest fall within {window} steps: {bestDrop:F2} nats from step {at}");
        Assert.True(bestDrop >= 0.6 * (start - end), $"the largest fall within {window} steps is {bestDrop:F2} of {start - end:F2} nats: no phase change");
        Assert.True(at > window, "the fall must follow a plateau, not the first steps");
    }

    [Fact]
    public void ItHasPreviousTokenHeads()
    {
        using var loaded = Load();
        var language = TrainingPreset.Embedded.Data();
        var set = language.Generate(Sequences, 97, seed: 424242);
        var scores = PreviousTokenScores(loaded.Model, set);
        var best = Best(scores);
        output.WriteLine($"previous-token scores:\n{Format(scores)}");
        Assert.True(best.Score > 0.7, $"best previous-token score {best.Score:F2} (L{best.Layer}H{best.Head})");
        Assert.Equal(0, best.Layer);
    }

    [Fact]
    public void ItHasInductionHeadsAndAblatingThemBreaksInductionFarMoreThanOtherHeads()
    {
        using var loaded = Load();
        var model = loaded.Model;
        var (batch, words) = RepeatedRandomWords(model.Config, seed: 31337);
        var scores = InductionScores(model, batch);
        output.WriteLine($"induction scores (i → i − {SegmentLength} + 1):\n{Format(scores)}");
        var induction = Heads(scores).Where(h => h.Score > 0.4).ToList();
        Assert.NotEmpty(induction);
        Assert.All(induction, h => Assert.True(h.Layer >= 1, $"L{h.Layer}H{h.Head} cannot be an induction head: layer 0 has no previous-token input"));

        double clean = RepeatedHalfLoss(model, batch, words, []);
        double ablated = RepeatedHalfLoss(model, batch, words, induction.Select(h => (h.Layer, h.Head)).ToArray());
        // The previous-token head is part of the induction circuit (the induction heads' keys read it): ablating it
        // breaks induction too, so it is not among the "other" heads.
        var set = TrainingPreset.Embedded.Data().Generate(Sequences, 97, seed: 424242);
        var previous = Best(PreviousTokenScores(model, set));
        var others = Heads(scores).Where(h => !induction.Contains(h) && (h.Layer, h.Head) != (previous.Layer, previous.Head)).Select(h => (h.Layer, h.Head)).ToArray();
        var random = new SeededRandom(5);
        var otherEffects = new List<double>();
        for (int draw = 0; draw < 12; draw++)
        {
            var pick = others.OrderBy(_ => random.NextInt(1 << 30)).Take(induction.Count).ToArray();
            otherEffects.Add(RepeatedHalfLoss(model, batch, words, pick) - clean);
        }
        output.WriteLine($"repeated-half loss {clean:F3}; ablating {string.Join(", ", induction.Select(h => $"L{h.Layer}H{h.Head}"))}: +{ablated - clean:F3}; "
            + $"{induction.Count} other heads: mean +{otherEffects.Average():F3}, max +{otherEffects.Max():F3}");
        Assert.True(ablated - clean >= 1.0, $"ablating the induction heads raises the loss by only {ablated - clean:F3} nats");
        Assert.True(otherEffects.Average() < 0.25 * (ablated - clean), $"other heads raise it by {otherEffects.Average():F3} on average: not far less");
    }

    // BOS, then T distinct random words, then the same T words again.
    private static (TokenBatch Batch, int[] Ids) RepeatedRandomWords(ModelConfig config, ulong seed)
    {
        var vocabulary = new ToyLanguage(TrainingPreset.EmbeddedLanguage).Vocabulary;
        int length = 1 + 2 * SegmentLength;
        var ids = new int[Sequences * length];
        var generator = new RepeatedSegments(SegmentLength, vocabulary.FirstWord, vocabulary.WordCount, bosId: ToyVocabulary.Bos);
        var set = generator.Generate(Sequences, length, seed);
        for (int s = 0; s < Sequences; s++) set.Tokens[s].CopyTo(ids, s * length);
        Assert.True(length <= config.ContextLength);
        return (new TokenBatch(ids, Sequences, length), ids);
    }

    private static float[,] InductionScores(Transformer model, TokenBatch batch)
    {
        var c = model.Config;
        int t = batch.Length;
        var scores = new float[c.Layers, c.Heads];
        var (_, cache) = model.RunWithCache(batch, CacheFilter.Where(h => h.Site == ActivationSite.Pattern));
        for (int l = 0; l < c.Layers; l++)
        {
            var pattern = cache[ActivationSite.Pattern, l].Contiguous().Span;
            for (int h = 0; h < c.Heads; h++)
            {
                double sum = 0;
                int count = 0;
                for (int s = 0; s < batch.Batch; s++)
                {
                    for (int i = 1 + SegmentLength; i < t; i++)
                    {
                        sum += pattern[(((s * c.Heads) + h) * t + i) * t + i - SegmentLength + 1];
                        count++;
                    }
                }
                scores[l, h] = (float)(sum / count);
            }
        }
        return scores;
    }

    private static float[,] PreviousTokenScores(Transformer model, SyntheticSequences set)
    {
        var c = model.Config;
        int t = set.Tokens[0].Length, n = set.Count;
        var ids = new int[n * t];
        for (int s = 0; s < n; s++) set.Tokens[s].CopyTo(ids, s * t);
        var (_, cache) = model.RunWithCache(new TokenBatch(ids, n, t), CacheFilter.Where(h => h.Site == ActivationSite.Pattern));
        var scores = new float[c.Layers, c.Heads];
        for (int l = 0; l < c.Layers; l++)
        {
            var pattern = cache[ActivationSite.Pattern, l].Contiguous().Span;
            for (int h = 0; h < c.Heads; h++)
            {
                double sum = 0;
                int count = 0;
                for (int s = 0; s < n; s++)
                {
                    // Only positions inside text spans: the previous word is what the word model conditions on.
                    for (int i = 2; i < t; i++)
                    {
                        if (set.Labels[s][i] != PredictionKind.Text) continue;
                        sum += pattern[(((s * c.Heads) + h) * t + i - 1) * t + i - 2];
                        count++;
                    }
                }
                scores[l, h] = (float)(sum / count);
            }
        }
        return scores;
    }

    // Mean next-token loss over the predictions of the second copy (except its first token, which no context predicts).
    private static double RepeatedHalfLoss(Transformer model, TokenBatch batch, int[] ids, (int Layer, int Head)[] ablate)
    {
        var hooks = new HookSet(model.Config);
        foreach (var (l, h) in ablate) HeadAblation.Zero(hooks, l, h);
        var logits = model.RunWithHooks(batch, hooks).Contiguous().Span;
        int t = batch.Length, v = model.Config.VocabSize;
        double sum = 0;
        int count = 0;
        for (int s = 0; s < batch.Batch; s++)
        {
            for (int i = 1 + SegmentLength; i < t - 1; i++)
            {
                var row = logits.Slice((s * t + i) * v, v);
                float max = float.NegativeInfinity;
                foreach (float x in row) max = Math.Max(max, x);
                double z = 0;
                foreach (float x in row) z += Math.Exp(x - max);
                sum += Math.Log(z) + max - row[ids[s * t + i + 1]];
                count++;
            }
        }
        return sum / count;
    }

    private static IEnumerable<(int Layer, int Head, float Score)> Heads(float[,] scores)
    {
        for (int l = 0; l < scores.GetLength(0); l++)
            for (int h = 0; h < scores.GetLength(1); h++) yield return (l, h, scores[l, h]);
    }

    private static (int Layer, int Head, float Score) Best(float[,] scores) => Heads(scores).MaxBy(h => h.Score);

    private static string Format(float[,] scores) => string.Join('\n', Enumerable.Range(0, scores.GetLength(0))
        .Select(l => $"L{l}: " + string.Join(' ', Enumerable.Range(0, scores.GetLength(1)).Select(h => scores[l, h].ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))));

    private sealed class StopAfter(int steps, CancellationTokenSource cancel) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Step >= steps) cancel.Cancel();
        }
    }
}

/// <summary>Attribution patching against exact activation patching on the embedded model (issue bar: Pearson ≥ 0.9).</summary>
public class EmbeddedAttributionTests(ITestOutputHelper output)
{
    [Fact]
    public void AttributionPatchingAgreesWithExactPatchingOverHeadsAndPositions()
    {
        using var loaded = ModelLoader.Load(Path.Combine(TestPaths.RepoRoot, "models", "embedded"));
        // tools/fixtures/embedded/repeated_segment_pairs.py: a 13-word segment and its repeat vs fresh words.
        var set = HeadMiner.Tasks.PromptPairSet.Load(TestPaths.Fixture("embedded", "repeated-segments.json"));
        var pairs = set.Tokenize(loaded.RequireTokenizer());
        var attribution = HeadMiner.Analysis.Attribution.AttributionPatching.Nodes(loaded.Model, pairs, HeadMiner.Tasks.MetricKind.LogitDiff);
        var exact = HeadMiner.Analysis.Patching.ActivationPatching.Sweep(loaded.Model, pairs,
            new HeadMiner.Analysis.Patching.PatchTarget(ActivationSite.Z, HeadMiner.Analysis.Patching.PatchGranularity.LayerHeadPosition), HeadMiner.Tasks.MetricKind.LogitDiff);
        double r = HeadMiner.Analysis.Attribution.Pearson.Correlation(attribution.Heads.Span, exact.Normalized.Span);
        output.WriteLine($"logit diff clean {exact.CleanMetric:F3}, corrupted {exact.CorruptedMetric:F3}; Pearson r over {exact.Normalized.Length} heads × positions: {r:F4}");
        Assert.True(exact.CleanMetric - exact.CorruptedMetric > 5, "the pairs must separate clean from corrupted");
        Assert.True(r >= 0.9, $"attribution vs exact patching: r = {r:F4}");
    }
}
