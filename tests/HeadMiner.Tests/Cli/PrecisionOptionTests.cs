using System.Text.Json;
using HeadMiner.Cli;
using HeadMiner.Tensors.Kernels;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>
/// --precision fp32|bf16 on the commands that run forwards: fp32 is the default and gives the same logits as before;
/// bf16 changes them (the products are rounded) within the tolerance docs/PERFORMANCE.md states for the embedded model,
/// and every output says which arithmetic ran.
/// </summary>
public sealed class PrecisionOptionTests
{
    private const string Pairs = """
        {"version": 1, "task": "toy", "pairs": [
         {"clean": "w3 w17 w40 w9 w3 w17", "corrupted": "w5 w22 w61 w9 w5 w22", "answer": " w40", "wrong": " w61"}]}
        """;

    [Fact]
    public void LogitsSaysWhichArithmeticRanAndBf16StaysNearFp32()
    {
        var fp32 = Logits(null);
        var explicitFp32 = Logits("fp32");
        var bf16 = Logits("bf16");
        Assert.Equal("fp32", fp32.GetProperty("precision").GetString());
        Assert.Equal("bf16", bf16.GetProperty("precision").GetString());
        Assert.Equal(ModelOptions.DescribePrecision(HeadMiner.Tensors.ArithmeticPrecision.Bf16), bf16.GetProperty("arithmetic").GetString());
        Assert.Contains(GemmBf16.IsNative ? "native" : "managed emulation", bf16.GetProperty("arithmetic").GetString());
        var a = TopLogits(fp32);
        var b = TopLogits(explicitFp32);
        var c = TopLogits(bf16);
        Assert.Equal(a, b);
        // The same top tokens (their logits are 0.04 or more apart here), and logits within the stated bf16 tolerance
        // (docs/PERFORMANCE.md, "bf16 arithmetic": 2% of the largest |logit|; the top logit stands in for it, which is
        // stricter), but not equal: the rounding is visible.
        Assert.Equal(Top1(fp32), Top1(bf16));
        Assert.Equal(a.Keys.Order(), c.Keys.Order());
        double tolerance = 0.02 * a.Values.Max(Math.Abs);
        foreach (var (id, logit) in a) Assert.True(Math.Abs(logit - c[id]) <= tolerance, $"token {id}: fp32 {logit}, bf16 {c[id]} (tolerance {tolerance})");
        Assert.Contains(a, kv => kv.Value != c[kv.Key]);
    }

    [Fact]
    public void TheTextHeaderNamesTheArithmetic()
    {
        var (code, output, err) = Run("logits", "-p", "w3 w17", "--top", "1", "--precision", "bf16");
        Assert.True(code == 0, err);
        Assert.Contains("arithmetic: bf16 (", output);
        (code, output, err) = Run("logits", "-p", "w3 w17", "--top", "1");
        Assert.True(code == 0, err);
        Assert.Contains("arithmetic: fp32", output);
    }

    [Fact]
    public void AnUnknownPrecisionIsAUsageError()
    {
        var (code, _, err) = Run("logits", "-p", "w3", "--precision", "fp16");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("fp16", err);
        Assert.Contains("bf16", err);
    }

    [Fact]
    public void PatchAndGenerateRecordTheArithmetic()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        var (code, output, err) = Run("patch", "--pairs", dir.File("pairs.json"), "--target", "z", "-o", dir.Path, "--precision", "bf16");
        Assert.True(code == 0, err);
        Assert.Contains("arithmetic: bf16", output);
        using (var json = JsonDocument.Parse(File.ReadAllText(dir.File("patching.json"))))
            Assert.Equal("bf16", json.RootElement.GetProperty("precision").GetString());
        (code, _, err) = Run("generate", "-p", "w3 w17", "-n", "3", "--precision", "bf16");
        Assert.True(code == 0, err);
        Assert.Contains("note: arithmetic: bf16", err);
    }

    /// <summary>
    /// The analysis commands that run forwards take --precision too: each says in its JSON (or, for cache, the
    /// safetensors metadata) and its text which arithmetic ran, and bf16 changes the numbers it writes.
    /// </summary>
    [Theory]
    [InlineData("path-patch", "path_patching.json")]
    [InlineData("ablate", "ablation.json")]
    [InlineData("detect", null)]
    [InlineData("logit-lens", null)]
    [InlineData("cache", null)]
    public void AnalysisCommandsRecordTheArithmetic(string command, string? jsonFile)
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        string Result(string precision)
        {
            string outDir = dir.File(precision);
            string[] args = command switch
            {
                "path-patch" => [command, "--pairs", dir.File("pairs.json"), "-r", "logits", "-o", outDir],
                "ablate" => [command, "--pairs", dir.File("pairs.json"), "-o", outDir],
                "detect" => [command, "-d", "previous_token,induction", "--json"],
                "logit-lens" => [command, "-p", "w3 w17 w40 w9 w3", "--json"],
                _ => [command, "-p", "w3 w17 w40", "--hooks", "blocks.3.hook_resid_post", "-o", outDir + ".safetensors"],
            };
            var (code, output, err) = Run([.. args, "--precision", precision]);
            Assert.True(code == 0, err);
            if (command == "cache")
            {
                string text = File.ReadAllText(outDir + ".safetensors", System.Text.Encoding.Latin1);
                Assert.Contains($"\"precision\":\"{precision}\"", text);
                Assert.Contains($"arithmetic: {precision}", output);
                // The tensors after the header (whose metadata names the precision).
                byte[] bytes = File.ReadAllBytes(outDir + ".safetensors");
                return Convert.ToHexString(bytes.AsSpan(8 + (int)BitConverter.ToUInt64(bytes, 0)));
            }
            string json = jsonFile is null ? output : File.ReadAllText(Path.Combine(outDir, jsonFile));
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement[0] : doc.RootElement;
            Assert.Equal(precision, root.GetProperty("precision").GetString());
            // The numbers, without the lines that name the arithmetic or the clock.
            return string.Join('\n', json.Split('\n').Where(l => !l.Contains("\"precision\"", StringComparison.Ordinal)
                && !l.Contains("\"arithmetic\"", StringComparison.Ordinal) && !l.Contains("seconds", StringComparison.Ordinal)));
        }
        Assert.NotEqual(Result("fp32"), Result("bf16"));
    }

    private static JsonElement Logits(string? precision)
    {
        string[] args = precision is null
            ? ["logits", "-p", "w3 w17 w40 w9 w3 w17", "--top", "5", "--json"]
            : ["logits", "-p", "w3 w17 w40 w9 w3 w17", "--top", "5", "--json", "--precision", precision];
        var (code, output, err) = Run(args);
        Assert.True(code == 0, err);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    private static Dictionary<int, float> TopLogits(JsonElement result) =>
        result.GetProperty("top").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetInt32(), t => t.GetProperty("logit").GetSingle());

    private static int Top1(JsonElement result) => result.GetProperty("top")[0].GetProperty("id").GetInt32();
}
