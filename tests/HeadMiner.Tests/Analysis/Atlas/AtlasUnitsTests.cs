using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;

namespace HeadMiner.Tests.Analysis.Atlas;

/// <summary>
/// An atlas split into units, each run on its own (in reverse order, through the transport format) and assembled,
/// is the whole run's atlas.json byte for byte — apart from the clock: created_utc and the measured seconds.
/// </summary>
public class AtlasUnitsTests
{
    // Causal detectors sharing tasks (previous_token and induction: the repeated-tokens loss; duplicate_token and
    // name_mover on this model), pattern and weight detectors, and k_composition (the atlas's composition block).
    private const string Detectors = "previous_token,duplicate_token,induction,attention_sink,ov_copying,k_composition,name_mover";

    [Fact]
    public void SplitIntoUnitsAndMergedTheAtlasIsTheWholeRunByteForByte()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "models", "embedded");
        using var loaded = ModelLoader.Load(dir);
        var options = new AtlasOptions { Detectors = Detectors, Circuits = true, Detector = new DetectorOptions { Prompts = 16, MaxPrompts = 32 }, RandomDraws = 7, RandomHeads = 9 }.ForModel(loaded);
        var info = AtlasModel.Of(loaded);
        var whole = AtlasRunner.Run(loaded.Model, loaded.Tokenizer, info, options);

        var units = AtlasUnits.Plan(loaded.Model, loaded.Tokenizer, options);
        Assert.Equal(DetectorRegistry.Parse(Detectors).Select(d => d.Id), units.SelectMany(u => u.DetectorIds).Order().OrderBy(id => DetectorRegistry.Parse(Detectors).ToList().FindIndex(d => d.Id == id)));
        // previous_token and induction both ablate against the repeated-tokens loss: one unit.
        Assert.Contains(units, u => u.DetectorIds.Contains("previous_token") && u.DetectorIds.Contains("induction"));
        Assert.True(units.Count >= 4, $"{units.Count} units");

        var outcomes = new List<AtlasDetectorOutcome>();
        foreach (var unit in units.Reverse())
        {
            var part = AtlasRunner.RunDetectors(loaded.Model, loaded.Tokenizer, options, unit.DetectorIds);
            outcomes.AddRange(AtlasDetectorOutcome.FromJson(AtlasDetectorOutcome.ToJson(part), unit.ToString()));
        }
        // The circuits read the assembled labels: the process that assembles finds them, as `atlas --cluster` does.
        var merged = AtlasCircuitRunner.Add(AtlasRunner.Assemble(loaded.Model, info, options, outcomes), loaded.Model, loaded.Tokenizer, options);

        string expected = AtlasClock.Fixed(whole).ToJson(), actual = AtlasClock.Fixed(merged).ToJson();
        Assert.Contains("\"causal\": {", expected);
        Assert.Contains("\"composition\": {", expected);
        Assert.Contains("\"circuits\": {", expected);
        Assert.Equal(expected, actual);
        // The shared task's evaluations are counted as in the whole run (each detector reports only what it added).
        Assert.Equal(whole.Detectors.Select(d => d.Causal?.Evaluations), merged.Detectors.Select(d => d.Causal?.Evaluations));
    }

    [Fact]
    public void AMissingOrDuplicatedOutcomeIsAnErrorNotAnIncompleteAtlas()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "models", "embedded");
        using var loaded = ModelLoader.Load(dir);
        var options = new AtlasOptions { Detectors = "attention_sink,ov_copying", Detector = new DetectorOptions { Prompts = 8, MaxPrompts = 8 } }.ForModel(loaded);
        var sink = AtlasRunner.RunDetectors(loaded.Model, loaded.Tokenizer, options, ["attention_sink"]);
        var e = Assert.Throws<HeadMinerException>(() => AtlasRunner.Assemble(loaded.Model, AtlasModel.Of(loaded), options, sink));
        Assert.Contains("missing for ov_copying", e.Message);
        e = Assert.Throws<HeadMinerException>(() => AtlasRunner.Assemble(loaded.Model, AtlasModel.Of(loaded), options, [.. sink, .. sink]));
        Assert.Contains("arrived twice", e.Message);
    }
}

/// <summary>The atlas without its clock: created_utc fixed and every measured duration and peak memory 0 (what differs between two identical runs).</summary>
public static class AtlasClock
{
    public static AtlasReport Fixed(AtlasReport atlas) => atlas with
    {
        CreatedUtc = "2000-01-01T00:00:00Z",
        Detectors = [.. atlas.Detectors.Select(d => d with { Seconds = 0, PeakRssMiB = 0, Causal = d.Causal is null ? null : d.Causal with { Seconds = 0 } })],
        Circuits = atlas.Circuits is null ? null : atlas.Circuits with { Seconds = 0, Tasks = [.. atlas.Circuits.Tasks.Select(t => t with { Seconds = 0, PeakRssMiB = 0 })] },
    };
}
