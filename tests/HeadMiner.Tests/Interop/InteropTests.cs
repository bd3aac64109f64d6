using System.Text.Json;
using HeadMiner.Cli;
using HeadMiner.Hooks;
using HeadMiner.Models;
using ParquetSharp;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Interop;

/// <summary>
/// What HeadMiner writes, read back outside .NET: safetensors caches and score matrices and CSV tables by numpy
/// (readback.py, Debian's python3-numpy), Parquet tables by ParquetSharp (Apache Arrow's C++ Parquet reader, the
/// one pyarrow and pandas use; Debian packages no Python Parquet reader). Every value is compared exactly.
/// </summary>
public class InteropTests
{
    private const string Prompt = "When Mary and John went to the store, John gave a drink to";

    private const string Pairs = """
        {"version": 1, "task": "demo", "pairs": [
         {"clean": "When Mary and John went to the store, John gave a drink to", "corrupted": "When Mary and John went to the store, Mary gave a drink to", "answer": " Mary", "wrong": " John"},
         {"clean": "When Tom and Anna went to the park, Anna gave a ball to", "corrupted": "When Tom and Anna went to the park, Tom gave a ball to", "answer": " Tom", "wrong": " Anna"},
         {"clean": "When Mary and Tom went to the store, Tom gave a drink to", "corrupted": "When Mary and Tom went to the store, Mary gave a drink to", "answer": " Mary", "wrong": " Tom"}]}
        """;

    [Fact]
    public void NumpyReadsACacheAsTheInProcessRunHoldsIt()
    {
        using var dir = TestPaths.NewTempDirectory();
        string file = dir.File("cache.safetensors");
        const string Hooks = "hook_embed,blocks.*.attn.hook_pattern,blocks.1.attn.hook_attn_scores,blocks.3.hook_resid_post,ln_final.hook_scale";
        var (code, output, err) = Run("cache", "-p", Prompt, "--hooks", Hooks, "-o", file);
        Assert.True(code == 0, err);
        Assert.Contains("cached 8 hook points", output);

        using var loaded = ModelLoader.Load(DefaultModel.Path!);
        var ids = loaded.Tokenizer!.Encode(Prompt);
        var names = HookPatterns.Select(Hooks, loaded.Model.Config);
        var (_, cache) = loaded.Model.RunWithCache(ids, CacheFilter.Of([.. names]));
        var expected = new
        {
            tensors = names.ToDictionary(n => n.ToString(), n => PythonReadback.Tensor(cache.Get(n))),
            metadata = new Dictionary<string, string>
            {
                ["format"] = "headminer.activation_cache",
                ["hook_names"] = "transformer_lens",
                ["prompt"] = Prompt,
                ["tokens"] = JsonSerializer.Serialize(ids),
                ["weight_processing"] = "none",
            },
        };
        // TransformerLens shapes, batch axis kept: pattern [1, heads, T, T], residual [1, T, d_model].
        Assert.Equal([1, loaded.Model.Config.Heads, ids.Length, ids.Length], cache.Get(names[1]).Shape.ToArray());
        Assert.Contains("json header + numpy.frombuffer", PythonReadback.Check("safetensors", file, expected, dir.Path));
    }

    [Fact]
    public void TheDefaultCacheHoldsTransformerLensDefaultHookPointsInFloat16WithHalf()
    {
        using var dir = TestPaths.NewTempDirectory();
        string file = Path.Combine(dir.Path, "sub", "half.safetensors");
        var (code, _, err) = Run("cache", "-p", Prompt, "--half", "-o", file);
        Assert.True(code == 0, err);
        using var loaded = ModelLoader.Load(DefaultModel.Path!);
        var ids = loaded.Tokenizer!.Encode(Prompt);
        var (_, cache) = loaded.Model.RunWithCache(ids, CacheFilter.All());
        using var read = HeadMiner.Models.Formats.SafetensorsFile.Open(file);
        Assert.Equal(cache.Names.Select(n => n.ToString()).Order(StringComparer.Ordinal), read.TensorNames.Order(StringComparer.Ordinal));
        Assert.DoesNotContain("blocks.0.attn.hook_result", read.TensorNames);
        Assert.Contains("blocks.0.attn.hook_attn_scores", read.TensorNames);
        Assert.All(read.TensorNames, n => Assert.Equal(HeadMiner.Models.Formats.SafetensorsDType.F16, read.Info(n).DType));
    }

    [Theory]
    [InlineData("blocks.*.attn.hook_patern", "matches no hook point")]
    [InlineData("blocks.7.hook_resid_pre", "the model has 4 layers")]
    [InlineData("hook_embed,,hook_pos_embed", "empty entry")]
    public void BadHookListsAreUsageErrorsAndWriteNothing(string hooks, string message)
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, _, err) = Run("cache", "-p", Prompt, "--hooks", hooks, "-o", dir.File("c.safetensors"));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(message, err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error: --hooks", StringComparison.Ordinal));
        Assert.False(File.Exists(dir.File("c.safetensors")));
    }

    [Fact]
    public void PatchingTablesAndMatricesReadBackInNumpyAndParquet()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        var (code, output, err) = Run("patch", "--pairs", dir.File("pairs.json"), "--target", "z", "--parquet", "-o", dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("patching.parquet", output);
        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("patching.json")));
        var root = json.RootElement;
        int[] shape = [.. root.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32())];
        double?[] Values(string name) => [.. root.GetProperty(name).EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? (double?)null : (float)e.GetDouble())];
        double?[] raw = Values("raw"), normalized = Values("normalized");

        var tensors = new
        {
            tensors = new Dictionary<string, object>
            {
                ["raw"] = new { dtype = "F32", shape, values = raw },
                ["normalized"] = new { dtype = "F32", shape, values = normalized },
            },
            metadata = new Dictionary<string, string> { ["axes"] = "layer,head", ["metric"] = "logit_diff", ["format"] = "headminer.patching" },
        };
        PythonReadback.Check("safetensors", dir.File("patching.safetensors"), tensors, dir.Path);

        int[] layer = [.. Enumerable.Range(0, raw.Length).Select(i => i / shape[1])], head = [.. Enumerable.Range(0, raw.Length).Select(i => i % shape[1])];
        var columns = new Dictionary<string, object> { ["layer"] = layer, ["head"] = head, ["raw"] = raw, ["normalized"] = normalized };
        PythonReadback.Check("csv", dir.File("patching.csv"), new { columns, float32 = new[] { "raw", "normalized" } }, dir.Path);

        using var parquet = new ParquetFileReader(dir.File("patching.parquet"));
        Assert.Equal(["layer", "head", "raw", "normalized"], Enumerable.Range(0, parquet.FileMetaData.NumColumns).Select(i => parquet.FileMetaData.Schema.Column(i).Name));
        using var group = parquet.RowGroup(0);
        Assert.Equal(raw.Length, group.MetaData.NumRows);
        Assert.Equal(layer.Select(v => (int?)v), group.Column(0).LogicalReader<int?>().ReadAll(raw.Length));
        Assert.Equal(head.Select(v => (int?)v), group.Column(1).LogicalReader<int?>().ReadAll(raw.Length));
        Assert.Equal(raw, group.Column(2).LogicalReader<float?>().ReadAll(raw.Length).Select(v => (double?)v));
        Assert.Equal(normalized, group.Column(3).LogicalReader<float?>().ReadAll(raw.Length).Select(v => (double?)v));
    }

    [Fact]
    public void AtlasScoresReadBackInNumpyAndParquet()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, output, err) = Run("atlas", "--detectors", "previous_token,induction", "--prompts", "16", "--max-prompts", "16", "--causal-heads", "1",
            "--causal-random-heads", "4", "--causal-draws", "4", "--parquet", "-o", dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("atlas_scores.parquet", output);
        var atlas = HeadMiner.Analysis.Atlas.AtlasReport.Read(dir.File("atlas.json"));
        var ran = atlas.Detectors.Where(d => d.Scores is not null).ToList();
        Assert.Equal(2, ran.Count);
        double?[] Flat(double?[][] m) => [.. m.SelectMany(r => r).Select(v => v is double d ? (double?)(float)d : null)];
        var tensors = new Dictionary<string, object>();
        foreach (var d in ran)
        {
            tensors[d.Id] = new { dtype = "F32", shape = new[] { atlas.Model.Layers, atlas.Model.Heads }, values = Flat(d.Scores!) };
            if (d.IntervalLow is { } low) tensors[$"{d.Id}.interval_low"] = new { dtype = "F32", shape = new[] { atlas.Model.Layers, atlas.Model.Heads }, values = Flat(low) };
            if (d.IntervalHigh is { } high) tensors[$"{d.Id}.interval_high"] = new { dtype = "F32", shape = new[] { atlas.Model.Layers, atlas.Model.Heads }, values = Flat(high) };
        }
        Assert.True(tensors.Count > 2, "the atlas has intervals");
        PythonReadback.Check("safetensors", dir.File("atlas_scores.safetensors"), new { tensors, metadata = new Dictionary<string, string> { ["head_type.induction"] = "induction" } }, dir.Path);

        // The table: one row per detector × layer × head; labelled exactly where atlas.json labels the head.
        using var parquet = new ParquetFileReader(dir.File("atlas_scores.parquet"));
        using var group = parquet.RowGroup(0);
        int rows = (int)group.MetaData.NumRows;
        Assert.Equal(2 * atlas.Model.Layers * atlas.Model.Heads, rows);
        string[] detector = group.Column(0).LogicalReader<string>().ReadAll(rows);
        int?[] layer = group.Column(3).LogicalReader<int?>().ReadAll(rows), head = group.Column(4).LogicalReader<int?>().ReadAll(rows);
        double?[] score = group.Column(5).LogicalReader<double?>().ReadAll(rows);
        bool?[] labelled = group.Column(9).LogicalReader<bool?>().ReadAll(rows);
        for (int i = 0; i < rows; i++)
        {
            var d = atlas.Detectors.Single(x => x.Id == detector[i]);
            int l = layer[i]!.Value, h = head[i]!.Value;
            Assert.Equal(d.Scores![l][h], score[i]);
            bool isLabelled = atlas.Heads.Any(x => x.Layer == l && x.Head == h && x.Labels.Any(lab => lab.Type == d.HeadType));
            Assert.Equal(isLabelled, labelled[i]);
        }
        Assert.Contains(true, labelled);
        var csv = File.ReadAllLines(dir.File("atlas_scores.csv"));
        Assert.Equal("detector,head_type,stage,layer,head,score,interval_low,interval_high,threshold,labelled", csv[0]);
        Assert.Equal(rows + 1, csv.Length);
    }
}
