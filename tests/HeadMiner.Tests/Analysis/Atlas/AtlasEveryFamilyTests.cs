using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tests.Models;
using HeadMiner.Tests.Tokenizers;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Analysis.Atlas;

/// <summary>
/// The whole atlas on a tiny random model of every architecture path (<see cref="AnalysisModels.All"/>: GPT-2, NeoX,
/// Llama with GQA, Llama interleaved with a 3-token sliding window far shorter than the detector prompts, Qwen3,
/// OLMo-2, Phi-3, and the pre+post-norm sandwich) with the real GPT-2 tokenizer over a 50257-token vocabulary, so the
/// task detectors can build their prompts on every family. No detector may fail, none may be skipped for a reason
/// other than the one it has on the GPT-2-shaped model (the vocabulary or the text, never the architecture), and
/// every score is finite.
/// </summary>
public class AtlasEveryFamilyTests(ITestOutputHelper output)
{
    private static readonly Lazy<ITokenizer> Gpt2 = new(() => TokenizerLoader.Load(TokenizerTestFiles.Gpt2Directory));

    public static TheoryData<int> Configs => AnalysisModels.Indices;

    private static AtlasReport Run(int index)
    {
        var c = AnalysisModels.All[index] with { VocabSize = 50257, ContextLength = 160 };
        using var model = new Transformer(c, RandomWeights.Create(c, 5, 0.1f, perturbNorms: true), $"tiny-{c.Architecture}");
        var info = AtlasModel.InMemory(model, model.Source);
        return AtlasRunner.Run(model, Gpt2.Value, info, new AtlasOptions { Detector = new DetectorOptions { Prompts = 6, Seed = 2 } });
    }

    private static readonly Lazy<Dictionary<string, string?>> Gpt2Skips = new(() =>
        Run(0).Detectors.Where(d => d.Status == "skipped").ToDictionary(d => d.Id, d => d.Reason));

    [Theory]
    [MemberData(nameof(Configs))]
    public void EveryDetectorRunsOrIsSkippedForTheSameNonArchitecturalReasonAndScoresAreFinite(int index)
    {
        var atlas = Run(index);
        var c = AnalysisModels.All[index];
        foreach (var d in atlas.Detectors) output.WriteLine($"{c.Architecture}: {d.Id} {d.Status} {d.Reason}");
        Assert.Equal(DetectorRegistry.Ids.ToArray(), atlas.Detectors.Select(d => d.Id).ToArray());
        Assert.DoesNotContain(atlas.Detectors, d => d.Status == "failed");
        var skipped = atlas.Detectors.Where(d => d.Status == "skipped").ToDictionary(d => d.Id, d => d.Reason);
        // Same skips with the same reasons as on GPT-2: nothing is refused for being this architecture.
        Assert.Equal(Gpt2Skips.Value.OrderBy(p => p.Key), skipped.OrderBy(p => p.Key));
        Assert.All(skipped.Values, reason => Assert.False(string.IsNullOrWhiteSpace(reason)));
        // The task detectors that attribute logits to heads or path-patch run on every family, post-norm ones included.
        foreach (var id in new[] { "name_mover", "negative_name_mover", "s_inhibition", "greater_than" })
            Assert.Equal("ran", atlas.Detectors.Single(d => d.Id == id).Status);
        foreach (var d in atlas.Detectors.Where(d => d.Status == "ran"))
        {
            Assert.NotNull(d.Scores);
            Assert.Equal(c.Layers, d.Scores.Length);
            Assert.All(d.Scores, row =>
            {
                Assert.Equal(c.Heads, row.Length);
                Assert.All(row, v => Assert.True(v is null || double.IsFinite(v.Value), $"{d.Id}: non-finite score {v}"));
            });
            Assert.True(d.Scores.SelectMany(r => r).Any(v => v is not null), $"{d.Id} ran but scored no head");
        }
        // Every family gets a circuit per task set, except the post-norm ones, whose heads' writes are not terms of a sum.
        var circuits = atlas.Circuits!;
        foreach (var t in circuits.Tasks) output.WriteLine($"{c.Architecture}: circuit of {t.Task} {t.Status} {t.Reason} {t.EdgesKept} edges, faithfulness {t.Faithfulness}");
        if (c.PostNorm)
        {
            Assert.Equal("skipped", circuits.Status);
            Assert.Contains("post-sublayer norms", circuits.Reason);
            return;
        }
        Assert.Equal("ran", circuits.Status);
        Assert.All(circuits.Tasks.Where(t => t.Status == "ran"), t => Assert.True(t.Faithfulness is double f && double.IsFinite(f), $"{t.Task}: faithfulness {t.Faithfulness}"));
        Assert.Equal(Gpt2Circuits.Value, circuits.Tasks.Select(t => (t.Task, t.Status)));
    }

    private static readonly Lazy<(string, string)[]> Gpt2Circuits = new(() => [.. Run(0).Circuits!.Tasks.Select(t => (t.Task, t.Status))]);
}
