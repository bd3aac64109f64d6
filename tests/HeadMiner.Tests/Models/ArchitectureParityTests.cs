using System.Text.Json;
using HeadMiner.Models;
using HeadMiner.Tensors.Kernels;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Every architecture against an independent PyTorch implementation: tiny random checkpoints in genuine Hugging Face
/// naming and layout with reference logits, made by tools/fixtures/parity/make_parity_fixtures.py (committed, so CI
/// needs no PyTorch). The batch has a left-padded row, so padding masks and position ids are checked too.
/// </summary>
public class ArchitectureParityTests(ITestOutputHelper output)
{
    public static TheoryData<string> Fixtures => new() { "gpt2", "gpt_neo", "gpt_neox", "gpt_neox_seq", "llama", "llama3", "mistral", "qwen2", "smollm2", "phi3", "phi3_long", "qwen3", "olmo2", "gemma", "gemma2", "gemma3" };

    internal sealed record Expected(int[][] InputIds, int[][] AttentionMask, float[][][] Logits);

    internal static Expected Read(string dir, string file = "expected.json")
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, file)));
        var root = doc.RootElement;
        int[][] Ints(string key) => root.GetProperty(key).EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToArray();
        var logits = root.GetProperty("logits").EnumerateArray()
            .Select(b => b.EnumerateArray().Select(t => t.EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray()).ToArray();
        return new Expected(Ints("input_ids"), Ints("attention_mask"), logits);
    }

    internal static (float MaxDiff, float Range) Compare(Transformer model, Expected expected, bool logProbs)
    {
        int batch = expected.InputIds.Length, length = expected.InputIds[0].Length, v = model.Config.VocabSize;
        var tokens = new TokenBatch(expected.InputIds.SelectMany(r => r).ToArray(), batch, length,
            expected.AttentionMask.SelectMany(r => r).Select(m => m != 0).ToArray());
        var ours = model.Forward(tokens).ToArray();
        float maxDiff = 0, min = float.MaxValue, max = float.MinValue;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
            {
                if (expected.AttentionMask[b][t] == 0) continue;
                var reference = expected.Logits[b][t].ToArray();
                var mine = ours.AsSpan((b * length + t) * v, v).ToArray();
                if (logProbs)
                {
                    Softmax.LogRows(reference, 1, v);
                    Softmax.LogRows(mine, 1, v);
                }
                for (int j = 0; j < v; j++)
                {
                    maxDiff = Math.Max(maxDiff, Math.Abs(reference[j] - mine[j]));
                    min = Math.Min(min, reference[j]);
                    max = Math.Max(max, reference[j]);
                }
            }
        return (maxDiff, max - min);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void LogitsMatchPyTorchReference(string name)
    {
        string dir = TestPaths.Fixture("parity", name);
        using var loaded = ModelLoader.Load(dir);
        Assert.Empty(loaded.UnusedTensors);
        var (diff, range) = Compare(loaded.Model, Read(dir), logProbs: false);
        output.WriteLine($"{name}: max |Δlogit| = {diff:G3}, logit range {range:F2}");
        Assert.True(range > 1f, $"{name}: reference logits span only {range}");
        Assert.True(diff <= 1e-4f * range, $"{name}: max |Δlogit| = {diff:G3} exceeds 1e-4 × range {range:F2}");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void WeightProcessingKeepsLogProbsWithin1e4(string name)
    {
        string dir = TestPaths.Fixture("parity", name);
        using var loaded = ModelLoader.Load(dir, new LoadOptions { Processing = WeightProcessing.TransformerLensDefault });
        Assert.True(loaded.Model.Processing.FoldLayerNorm);
        var (diff, _) = Compare(loaded.Model, Read(dir), logProbs: true);
        output.WriteLine($"{name} ({loaded.Model.Processing}): max |Δlog-prob| = {diff:G3}");
        Assert.True(diff <= 1e-4f, $"{name}: processed weights move a log-prob by {diff:G3}");
    }
}
