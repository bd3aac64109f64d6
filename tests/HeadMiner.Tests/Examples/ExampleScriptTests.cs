using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using HeadMiner.Analysis;
using HeadMiner.Analysis.Attribution;
using HeadMiner.Models;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Examples;

/// <summary>
/// Every script in examples/ runs as a user runs it (`dotnet run examples/X.cs -- OUT.html`, a .NET 10 file-based
/// program referencing src/HeadMiner) on the embedded model: it exits 0, writes its HTML page with the expected views,
/// and what it prints agrees with an independent computation in this process (the induction detector, direct logit
/// attribution, the model's own forward) or with a bound measured on this model.
/// <para>The scripts build in the test run's configuration, so the library they reference is the one this run built
/// already (an up-to-date, no-op build); only each script's own compile is added.</para>
/// </summary>
[Collection(DotnetBuildCollection.Name)]
public class ExampleScriptTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(10);

    [Fact]
    public void ExamplesFolderHoldsExactlyTheTestedScriptsEachListedInItsReadme()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "examples");
        string[] tested = ["attribution_patching", "induction", "ioi_patching", "logit_lens", "path_patching"];
        Assert.Equal(tested, Directory.GetFiles(dir, "*.cs").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal));
        string readme = File.ReadAllText(Path.Combine(dir, "README.md"));
        Assert.All(tested, name => Assert.Contains($"dotnet run examples/{name}.cs", readme));
        Assert.All(tested, name => Assert.StartsWith("#:project ../src/HeadMiner/HeadMiner.csproj", File.ReadAllText(Path.Combine(dir, name + ".cs"))));
    }

    [Fact]
    public void InductionFindsTheHeadsTheInductionDetectorLabels()
    {
        var (output, html) = RunExample("induction");
        Assert.Contains(("heatmap", "induction score"), Sections(html));
        Assert.Contains(Sections(html), s => s.Kind == "attention");
        var found = Line(output, "induction heads (score > 0.3): ").Split(' ', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal);

        var (code, json, err) = Run("detect", "--detectors", "induction", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(json);
        var labelled = doc.RootElement.GetProperty("detectors")[0].GetProperty("top").EnumerateArray()
            .Where(h => h.GetProperty("labelled").GetBoolean())
            .Select(h => $"L{h.GetProperty("layer").GetInt32()}H{h.GetProperty("head").GetInt32()}").Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(labelled);
        Assert.Equal(labelled, found);
    }

    [Fact]
    public void IoiPatchingMovesTheNamesFromTheirPositionsToTheEnd()
    {
        var (output, html) = RunExample("ioi_patching");
        Assert.Contains(("heatmap", "resid_pre, layer × position"), Sections(html));
        Assert.Contains(("heatmap", "attention head outputs (hook_z), layer × head"), Sections(html));
        var metrics = Regex.Match(output, @"logit difference: clean (\S+), corrupted (\S+)");
        Assert.True(Number(metrics.Groups[1].Value) > Number(metrics.Groups[2].Value) + 1, output);
        // In the first layer only the names differ between clean and corrupted, so the strongest patch is a name's
        // position; by the last layer the information has left the names' positions.
        Assert.Matches(@"layer 0: position (IO|S1|S2) \(", output);
        Assert.DoesNotMatch(@"layer 3: position (IO|S1|S2) \(", output);
    }

    [Fact]
    public void PathPatchingNamesAsNameMoversTheHeadsWhoseDirectLogitAttributionChangesMost()
    {
        var (output, html) = RunExample("path_patching");
        Assert.Contains(("heatmap", "sender → logits (direct effect)"), Sections(html));
        Assert.Equal(4, Sections(html).Count(s => s.Kind == "heatmap")); // logits, then q, k and v of the name movers
        var movers = Line(output, "name movers: ").Split(' ');

        // Direct logit attribution on the same pairs: the heads whose direct write of the logit difference changes most
        // from the corrupted run to the clean one (a path to the logits alone carries exactly that change, up to the
        // final norm's scale, which the path recomputes).
        using var loaded = ModelLoader.Load(Path.Combine(TestPaths.RepoRoot, "models", "embedded"));
        var pairs = ModelTaskSets.Generate(loaded, "ioi", count: 32, seed: 1).Tokenize(loaded.RequireTokenizer());
        var clean = DirectLogitAttribution.Compute(loaded.Model, pairs.CleanBatch(), pairs.Answers, pairs.Wrongs).MeanHeads();
        var corrupted = DirectLogitAttribution.Compute(loaded.Model, pairs.CorruptedBatch(), pairs.Answers, pairs.Wrongs).MeanHeads();
        var top = clean.SelectMany((row, l) => row.Select((v, h) => (Name: $"L{l}H{h}", v: v - corrupted[l][h]))).OrderByDescending(x => x.v).Take(2).Select(x => x.Name);
        Assert.Equal(top.Order(StringComparer.Ordinal), movers.Order(StringComparer.Ordinal));
        Assert.Matches(@"strongest path into them: L\d+H\d+ → [qkv] \(0\.\d{3}\)", output);
    }

    [Fact]
    public void LogitLensEndsOnTheModelsOwnPredictionForEveryTask()
    {
        var (output, html) = RunExample("logit_lens");
        Assert.Contains(Sections(html), s => s.Kind == "line");
        Assert.Equal(4, Sections(html).Count(s => s.Kind == "table")); // one per task
        using var loaded = ModelLoader.Load(Path.Combine(TestPaths.RepoRoot, "models", "embedded"));
        var tokenizer = loaded.RequireTokenizer();
        var sections = output.Split("\n", StringSplitOptions.None);
        foreach (string task in new[] { "ioi", "successor", "greater_than", "yes_no" })
        {
            var ids = ModelTaskSets.Generate(loaded, task, count: 1, seed: 3).Tokenize(tokenizer).Clean[0];
            int vocab = loaded.Model.Config.VocabSize;
            var last = loaded.Model.Forward(ids).Span.Slice((ids.Length - 1) * vocab, vocab).ToArray();
            int argmax = Array.IndexOf(last, last.Max());
            int start = Array.FindIndex(sections, l => l.StartsWith(task + ": \"", StringComparison.Ordinal));
            string final = sections.Skip(start).First(l => l.TrimStart().StartsWith("final resid_post", StringComparison.Ordinal));
            Assert.Contains($"top: \"{tokenizer.TokenToString(argmax)}\"", final);
        }
        // The embedded model solves all four, so each ends with the answer at rank 1.
        Assert.Equal(4, Regex.Matches(output, @"final resid_post\s+answer rank\s+1 ").Count);
    }

    [Fact]
    public void AttributionPatchingCorrelatesWithExactPatching()
    {
        var (output, html) = RunExample("attribution_patching");
        Assert.Contains(("heatmap", "exact: MLP output, layer × position"), Sections(html));
        Assert.Contains(("heatmap", "attribution estimate: head (sum over positions)"), Sections(html));
        var r = Regex.Match(output, @"heads × positions (\S+), MLPs × positions (\S+), all (\S+)");
        Assert.True(r.Success, output);
        // Measured on the embedded model (32 IOI pairs, seed 1): heads 0.968, MLPs 0.970, all 0.967. The bound leaves
        // a margin of about 0.07 for other thread counts and CPUs; a broken gradient or sign gives far less.
        for (int g = 1; g <= 3; g++) Assert.InRange(Number(r.Groups[g].Value), 0.9, 1.0);
    }

    /// <summary>Runs examples/<paramref name="name"/>.cs; a non-zero exit fails with its output. Returns stdout and the HTML page.</summary>
    private static (string Output, string Html) RunExample(string name)
    {
        using var dir = TestPaths.NewTempDirectory();
        string html = dir.File(name + ".html");
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var start = new ProcessStartInfo(host) { WorkingDirectory = TestPaths.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "run", "-c", Configuration, Path.Combine("examples", name + ".cs"), "--", html }) start.ArgumentList.Add(arg);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Patience))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"examples/{name}.cs did not finish in {Patience.TotalMinutes} min:\n{stdout.Result}\n{stderr.Result}");
        }
        Assert.True(process.ExitCode == 0, $"examples/{name}.cs exited {process.ExitCode}:\n{stdout.Result}\n{stderr.Result}");
        Assert.True(File.Exists(html), $"examples/{name}.cs wrote no {html}:\n{stdout.Result}");
        Assert.Contains($"wrote {html}", stdout.Result);
        return (stdout.Result, File.ReadAllText(html));
    }

    /// <summary>The page's sections (the report views' JSON: kind and title), as HtmlReport embeds them.</summary>
    private static List<(string Kind, string Title)> Sections(string html)
    {
        const string Open = "<script type=\"application/json\" id=\"hm-report-data\">";
        int start = html.IndexOf(Open, StringComparison.Ordinal) + Open.Length;
        Assert.True(start >= Open.Length, "no report data in the page");
        using var doc = JsonDocument.Parse(html[start..html.IndexOf("</script>", start, StringComparison.Ordinal)]);
        return [.. doc.RootElement.GetProperty("sections").EnumerateArray().Select(s => (s.GetProperty("kind").GetString()!, s.GetProperty("title").GetString() ?? ""))];
    }

    /// <summary>The rest of the printed line that starts with <paramref name="prefix"/>.</summary>
    private static string Line(string output, string prefix) =>
        output.Split('\n').Select(l => l.TrimEnd('\r')).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))?[prefix.Length..]
        ?? throw new Xunit.Sdk.XunitException($"no line starting \"{prefix}\" in:\n{output}");

    private static double Number(string text) => double.Parse(text, CultureInfo.InvariantCulture);
}
