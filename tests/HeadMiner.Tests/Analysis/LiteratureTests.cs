using System.Text.Json;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Analysis.Literature;
using HeadMiner.Models;
using HeadMiner.Models.Architectures;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;
using HeadMiner.Tests.Models;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Analysis;

/// <summary>The literature registry: fingerprints of real and random weights, and the agreement table on GPT-2 small.</summary>
public class LiteratureTests(ITestOutputHelper output)
{
    /// <summary>The fingerprint of GPT-2 small (docs/ATLAS.md), from ../shared/models/gpt2-small-attention-only.</summary>
    private const string Gpt2Fingerprint = "hm1:8e12802e809035d187849b9d554bcbd972db3b8caa33b79181c842aeab131116";

    private static string Gpt2Dir => TestPaths.SharedModel("gpt2-small-attention-only");

    [Fact]
    public void TheRegistryHoldsTheGpt2SmallFactsWithTheirPapers()
    {
        var gpt2 = LiteratureRegistry.Default.Find("gpt2");
        Assert.NotNull(gpt2);
        Assert.Equal([Gpt2Fingerprint], gpt2.Fingerprints);
        string Heads(string type) => string.Join(" ", gpt2.Facts.Where(f => f.Type == type).Select(f => f.Subject));
        Assert.Equal("9.6 9.9 10.0", Heads("name_mover"));
        Assert.Equal("10.7 11.10", Heads("negative_name_mover"));
        Assert.Equal("7.3 7.9 8.6 8.10", Heads("s_inhibition"));
        Assert.Equal("5.5 6.9", Heads("induction"));
        Assert.Equal("0.1 3.0", Heads("duplicate_token"));
        Assert.Equal("2.2 4.11", Heads("previous_token"));
        Assert.Equal("10.7", Heads("copy_suppression"));
        Assert.Equal("4.11 → 5.5 4.11 → 6.9 2.2 → 5.5 2.2 → 6.9", Heads("k_composition"));
        Assert.All(gpt2.Facts, f => Assert.Matches(@"^\d{4}\.\d{5}$", f.Paper.Arxiv));
        Assert.Equal("2211.00593", gpt2.Facts[0].Paper.Arxiv);
        Assert.Equal("2310.04625", gpt2.Facts.Single(f => f.Type == "copy_suppression").Paper.Arxiv);
    }

    [Fact]
    public void WeightsOnlyGpt2SmallMatchesItsFingerprintRawAndProcessed()
    {
        Assert.Equal(Gpt2Fingerprint, WeightFingerprint.Compute(Gpt2Dir, 12));
        using var raw = ModelLoader.Load(Gpt2Dir, new LoadOptions { WeightsOnly = true });
        using var processed = ModelLoader.Load(Gpt2Dir, new LoadOptions { WeightsOnly = true, Processing = WeightProcessing.TransformerLensDefault });
        Assert.NotEqual(raw.Model.Weights.Blocks[0].W_Q[0, 0, 0], processed.Model.Weights.Blocks[0].W_Q[0, 0, 0]); // processing did change W_Q
        foreach (var loaded in new[] { raw, processed })
        {
            var match = LiteratureRegistry.Default.Match(loaded);
            Assert.NotNull(match);
            Assert.Equal("gpt2", match.Id);
            Assert.Equal(Gpt2Fingerprint, match.MatchedFingerprint);
        }
    }

    [Fact]
    public void WeightsOnlyGpt2SmallAgreesOnTheCompositionFactsAndCannotMeasureTheRest()
    {
        using var loaded = ModelLoader.Load(Gpt2Dir, new LoadOptions { WeightsOnly = true });
        var gpt2 = LiteratureRegistry.Default.Match(loaded)!;
        var context = new DetectorContext(loaded.Model, loaded.Tokenizer);
        var notRun = DetectorRegistry.All.Where(d => d.Id != "k_composition").ToDictionary(d => d.Id, d => d.CannotRun(context)!);
        var k = DetectorRegistry.Get("k_composition").Run(context);
        var table = LiteratureAgreement.Check(gpt2, [k], null, notRun);
        foreach (var f in table.Facts)
            output.WriteLine($"{f.Type,-20} {f.Head?.Layer}.{f.Head?.Head} {f.Sender?.Layer}.{f.Sender?.Head}→{f.Receiver?.Layer}.{f.Receiver?.Head} {f.Verdict} {f.Score:0.####} rank {f.Rank}/{f.RankOf} {f.Reason}");

        var byPair = table.Facts.Where(f => f.Type == "k_composition").ToDictionary(f => $"{f.Sender!.Layer}.{f.Sender.Head}→{f.Receiver!.Layer}.{f.Receiver.Head}");
        // 4.11 is the strongest K-composition sender of both induction heads, above the detector's threshold.
        foreach (var pair in new[] { "4.11→5.5", "4.11→6.9" })
        {
            Assert.Equal(AtlasLiteratureFact.Agrees, byPair[pair].Verdict);
            Assert.Equal(1, byPair[pair].Rank);
        }
        Assert.Equal(60, byPair["4.11→5.5"].RankOf);
        // 2.2 writes to their keys too, but more weakly: 5th / 6th sender, below the threshold.
        Assert.Equal(AtlasLiteratureFact.Disagrees, byPair["2.2→5.5"].Verdict);
        Assert.InRange(byPair["2.2→5.5"].Rank!.Value, 2, 10);
        Assert.Equal(AtlasLiteratureFact.Disagrees, byPair["2.2→6.9"].Verdict);
        Assert.Equal((2, 2, 16), (table.Agrees, table.Disagrees, table.NotMeasurable));
        Assert.All(table.Facts.Where(f => f.Type != "k_composition"), f =>
        {
            Assert.Equal(AtlasLiteratureFact.NotMeasurable, f.Verdict);
            Assert.Contains("skipped", f.Reason);
        });
        Assert.Contains("needs a forward pass", table.Facts.Single(f => f.Type == "induction" && f.Head!.Layer == 5).Reason);

        // The same table from an atlas report built of the same results.
        var report = new AtlasReport
        {
            CreatedUtc = "2026-01-01T00:00:00Z",
            ToolVersion = "0",
            Seed = 0,
            Model = AtlasModel.Of(loaded, weightsOnly: true),
            Detectors = [.. DetectorRegistry.All.Select(d => d.Id == "k_composition"
                ? new AtlasDetector { Id = d.Id, Kind = "weights", Description = "", Status = "ran", Threshold = k.Threshold, Scores = AtlasReport.Matrix(k.Scores) }
                : new AtlasDetector { Id = d.Id, Kind = "task", Description = "", Status = "skipped", Reason = notRun[d.Id] })],
            Heads = [],
            Composition = new AtlasComposition { Baseline = k.Baseline, Scores = new Dictionary<string, double?[][]> { ["k"] = AtlasReport.Matrix(k.Matrices["k_composition"].Contiguous().Reshape(144, 144)) } },
        };
        var fromReport = LiteratureAgreement.Check(gpt2, report);
        Assert.Equal(table.Facts.Select(f => (f.Verdict, f.Score, f.Rank, f.Reason)), fromReport.Facts.Select(f => (f.Verdict, f.Score, f.Rank, f.Reason)));

        string json = JsonSerializer.Serialize(table, AtlasReport.Json);
        Assert.Contains("\"not_measurable\": 16", json);
        Assert.Contains("\"rank_among\": \"senders to 5.5\"", json);
        Assert.Contains($"\"fingerprint\": \"{Gpt2Fingerprint}\"", json);
        var back = JsonSerializer.Deserialize<AtlasLiterature>(json, AtlasReport.Json)!;
        Assert.Equal(table.Facts, back.Facts);
        Assert.Equal(table.Notes, back.Notes);
    }

    [Fact]
    public void TheFingerprintIgnoresStoragePrecisionAndTellsRandomModelsApart()
    {
        using var dir = TestPaths.NewTempDirectory();
        var config = TinyModels.Gpt2Like(layers: 3);
        using var model = TinyModels.Create(config, seed: 5);
        var tensors = Gpt2Export.Tensors(config, model.Weights);
        string Save(string name, SafetensorsDType dtype, IReadOnlyDictionary<string, Tensor> t)
        {
            string d = Path.Combine(dir.Path, name);
            Directory.CreateDirectory(d);
            File.WriteAllText(Path.Combine(d, "config.json"), Gpt2Export.ConfigJson(config));
            var writer = new SafetensorsWriter();
            foreach (var (n, tensor) in t) writer.Add(n, tensor, dtype);
            writer.Save(Path.Combine(d, "model.safetensors"));
            return d;
        }
        string f32 = Save("f32", SafetensorsDType.F32, tensors), f16 = Save("f16", SafetensorsDType.F16, tensors), bf16 = Save("bf16", SafetensorsDType.BF16, tensors);
        string? print = WeightFingerprint.Compute(f32, config.Layers);
        Assert.NotNull(print);
        Assert.StartsWith(WeightFingerprint.Prefix, print);
        Assert.Equal(print, WeightFingerprint.Compute(f16, config.Layers));
        Assert.Equal(print, WeightFingerprint.Compute(bf16, config.Layers));
        using (var processed = ModelLoader.Load(f16, new LoadOptions { Processing = WeightProcessing.TransformerLensDefault }))
        {
            Assert.Equal(print, WeightFingerprint.Of(processed));
            Assert.Null(LiteratureRegistry.Default.Match(processed)); // a random model is no registered one
        }

        using var other = TinyModels.Create(config, seed: 6);
        string otherDir = Save("other", SafetensorsDType.F32, Gpt2Export.Tensors(config, other.Weights));
        Assert.NotEqual(print, WeightFingerprint.Compute(otherDir, config.Layers));

        // Values that F16 cannot hold (underflow to a signed zero, overflow to a signed infinity) keep their sign bit.
        var extremes = Tensor.Wrap([-1e-9f, 1e-9f, -1e-30f, -0f, 0f, -7e5f, 7e5f, -0.3f, 0.25f, -3e-8f, 6e-8f, -1f], 3, 4);
        var prints = new[] { SafetensorsDType.F32, SafetensorsDType.F16, SafetensorsDType.BF16 }.Select(dtype =>
        {
            string file = Path.Combine(dir.Path, $"extremes-{dtype}.safetensors");
            new SafetensorsWriter().Add("h.0.attn.c_attn.weight", extremes, dtype).Save(file);
            return WeightFingerprint.Compute(file, 1);
        }).ToList();
        Assert.All(prints, p => Assert.Equal(prints[0], p));

        // Random weights of GPT-2 small's own shape (the two tensors the fingerprint reads) do not match it either.
        string shaped = Path.Combine(dir.Path, "gpt2-shaped.safetensors");
        SafetensorsWriter.Write(shaped, new Dictionary<string, Tensor>
        {
            ["h.0.attn.c_attn.weight"] = Tensor.RandomNormal(1, 0.02f, 768, 2304),
            ["h.11.attn.c_attn.weight"] = Tensor.RandomNormal(2, 0.02f, 768, 2304),
        });
        string? random = WeightFingerprint.Compute(shaped, 12);
        Assert.NotNull(random);
        Assert.NotEqual(Gpt2Fingerprint, random);
        Assert.Null(LiteratureRegistry.Default.FindByFingerprint(random));
    }

    [Fact]
    public void Stories260KIsFingerprintedButNotRegistered()
    {
        using var loaded = ModelLoader.Load(TestPaths.SharedFile("models/stories260K/stories260K.bin"));
        string? print = WeightFingerprint.Of(loaded);
        Assert.StartsWith(WeightFingerprint.Prefix, print);
        Assert.Equal(print, WeightFingerprint.Compute(TestPaths.SharedModel("stories260K"), 5));
        Assert.Null(LiteratureRegistry.Default.Match(loaded));
    }

    [Fact]
    public void MissingFilesAndBadRegistriesFailNamingWhat()
    {
        string missing = Path.Combine(TestPaths.SharedDir, "models", "no-such-model");
        var e = Assert.Throws<DirectoryNotFoundException>(() => TestPaths.SharedModel("no-such-model"));
        Assert.Contains(missing, e.Message);
        var h = Assert.Throws<HeadMinerException>(() => WeightFingerprint.Compute(missing, 12));
        Assert.Contains(missing, h.Message);
        Assert.Null(LiteratureRegistry.Default.Match(missing, TinyModels.Create(TinyModels.Gpt2Like())));
        using (var empty = TestPaths.NewTempDirectory()) Assert.Null(LiteratureRegistry.Default.Match(empty.Path, TinyModels.Create(TinyModels.Gpt2Like())));

        const string Paper = """{"id": "p", "title": "T", "arxiv": "2211.00593"}""";
        const string Model = """{"id": "m", "name": "M", "layers": 2, "heads": 2, "fingerprints": []}""";
        string Registry(string fact) => $$"""{"version": 1, "papers": [{{Paper}}], "models": [{{Model}}], "facts": [{{fact}}]}""";
        Assert.Contains("not a catalog head-type id", Assert.Throws<HeadMinerException>(() => LiteratureRegistry.Parse(Registry("""{"model": "m", "type": "nonsense", "layer": 0, "head": 0, "paper": "p"}"""), "test")).Message);
        Assert.Contains("outside the model's 2 layers × 2 heads", Assert.Throws<HeadMinerException>(() => LiteratureRegistry.Parse(Registry("""{"model": "m", "type": "induction", "layer": 2, "head": 0, "paper": "p"}"""), "test")).Message);
        Assert.Contains("unknown paper", Assert.Throws<HeadMinerException>(() => LiteratureRegistry.Parse(Registry("""{"model": "m", "type": "induction", "layer": 1, "head": 0, "paper": "q"}"""), "test")).Message);
        Assert.Contains("not in an earlier layer", Assert.Throws<HeadMinerException>(() => LiteratureRegistry.Parse(Registry("""{"model": "m", "type": "k_composition", "sender": {"layer": 1, "head": 0}, "receiver": {"layer": 1, "head": 1}, "paper": "p"}"""), "test")).Message);
    }
}
