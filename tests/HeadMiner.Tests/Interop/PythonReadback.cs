using System.Diagnostics;
using System.Text.Json;

namespace HeadMiner.Tests.Interop;

/// <summary>
/// Runs readback.py (beside this file) with Debian's python3 and python3-numpy (.ci/run installs them) on a file
/// HeadMiner wrote and the values the test expects in it. A missing interpreter or numpy fails the test naming the
/// package to install, never skips it.
/// </summary>
internal static class PythonReadback
{
    public const string Interpreter = "/usr/bin/python3";

    public static string Script => Path.Combine(TestPaths.RepoRoot, "tests", "HeadMiner.Tests", "Interop", "readback.py");

    /// <summary>Checks <paramref name="file"/> as <paramref name="kind"/> ("safetensors" or "csv"); returns the script's "ok" line.</summary>
    public static string Check(string kind, string file, object expected, string workDir)
    {
        if (!File.Exists(Interpreter)) Assert.Fail($"{Interpreter} not found: install Debian's python3 and python3-numpy (apt-get install python3-numpy; .ci/run does)");
        string expectedPath = Path.Combine(workDir, $"expected-{Guid.NewGuid():N}.json");
        File.WriteAllText(expectedPath, JsonSerializer.Serialize(expected));
        var start = new ProcessStartInfo(Interpreter) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { Script, kind, file, expectedPath }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderrTask = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = stderrTask.GetAwaiter().GetResult();
        process.WaitForExit();
        if (stderr.Contains("No module named 'numpy'", StringComparison.Ordinal))
            Assert.Fail($"{Interpreter} has no numpy: install Debian's python3-numpy (apt-get install python3-numpy; .ci/run does)");
        Assert.True(process.ExitCode == 0, $"readback.py {kind} {file} exited {process.ExitCode}: {stdout}{stderr}");
        Assert.StartsWith("ok:", stdout);
        return stdout.Trim();
    }

    /// <summary>A float32 value as readback.py compares it: exactly, as a double; NaN as null, ±∞ as "inf"/"-inf".</summary>
    public static object? Value(float v) => float.IsNaN(v) ? null : float.IsFinite(v) ? (double)v : v > 0 ? "inf" : "-inf";

    /// <summary>The expectation for one tensor.</summary>
    public static object Tensor(HeadMiner.Tensors.Tensor t, string dtype = "F32") =>
        new { dtype, shape = t.Shape.ToArray(), values = t.Contiguous().ToArray().Select(Value).ToArray() };
}
