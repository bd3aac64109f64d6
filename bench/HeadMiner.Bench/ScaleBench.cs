using System.Diagnostics;
using System.Globalization;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Bench;

/// <summary>
/// `scale`: what each everyday step costs as the model grows, in one table: load, info, logits, generate, a z-patching
/// sweep and the atlas on a GPT-2-small shape and a Llama-3.2-1B shape (<see cref="ScaleCheckpoints"/>: random
/// weights, BF16 storage). Each step is its own child process (the headminer CLI; "load" is this benchmark's own
/// child calling ModelLoader.Load and nothing else), so its peak resident set (VmHWM, from /usr/bin/time or by
/// polling /proc/PID/status) is that step's alone. Wall time includes the process start and the model load, as a
/// user sees it. --quick: a shorter generation, a layer × head sweep instead of layer × head × position, and an atlas with fewer prompts and causal draws (every detector
/// still runs, so the memory peak is still found); the table says which settings ran.
/// </summary>
public static class ScaleBench
{
    private static readonly string[] AllSteps = ["load", "info", "logits", "generate", "patch", "atlas"];

    private const string Prompt = "When Mary and John went to the store, John gave a drink to";

    private sealed record Step(string Name, string Settings, List<string> Command);

    private sealed record Measured(double Seconds, long PeakRssBytes, int ExitCode, string Log);

    public static int Run(string[] args)
    {
        if (args.Length == 2 && args[0] == "--load-child")
        {
            using var loaded = ModelLoader.Load(args[1]);
            Console.WriteLine($"loaded {loaded.Model.Config.Architecture}, {loaded.Model.Config.Layers} layers");
            return 0;
        }
        bool quick = false;
        string[] shapes = [ScaleCheckpoints.Gpt2Small, ScaleCheckpoints.Llama1B];
        string[] steps = AllSteps;
        string? cli = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is "--shape" or "--steps" or "--cli" && i + 1 == args.Length) return Usage($"{args[i]} needs a value");
            string Value() => args[++i];
            switch (args[i])
            {
                case "--quick": quick = true; break;
                case "--shape":
                    string s = Value();
                    shapes = s == "all" ? shapes : [s];
                    if (shapes.Any(x => x is not (ScaleCheckpoints.Gpt2Small or ScaleCheckpoints.Llama1B)))
                        return Usage($"--shape is {ScaleCheckpoints.Gpt2Small}, {ScaleCheckpoints.Llama1B} or all, got '{s}'");
                    break;
                case "--steps":
                    steps = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    if (steps.Length == 0 || steps.Any(x => !AllSteps.Contains(x))) return Usage($"--steps is a comma-separated subset of {string.Join(",", AllSteps)}");
                    break;
                case "--cli": cli = Value(); break;
                default: return Usage($"unknown option '{args[i]}'");
            }
        }
        cli ??= DefaultCli();
        if (!File.Exists(cli)) return Usage($"the headminer CLI is not built at {cli} (dotnet build -c Release src/HeadMiner.Cli, or pass --cli PATH to HeadMiner.Cli.dll)");

        string work = Path.Combine(Path.GetTempPath(), $"headminer-bench-scale-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        string pairs = Path.Combine(work, "pairs.json");
        File.WriteAllText(pairs, PairsJson());
        Console.WriteLine($"scale: {(quick ? "--quick" : "full")} settings; CLI {cli}; {Environment.ProcessorCount} CPUs; load average {LoadAverage()}; peak RSS from {(File.Exists("/usr/bin/time") ? "/usr/bin/time (%M)" : "polling /proc/PID/status VmHWM")}");
        var rows = new List<string>();
        bool allOk = true;
        try
        {
            foreach (string shape in shapes)
            {
                var write = Stopwatch.StartNew();
                string dir = ScaleCheckpoints.Directory(shape);
                long checkpoint = ScaleCheckpoints.CheckpointBytes(dir);
                Console.WriteLine($"{shape}: {dir} ({checkpoint / 1048576.0:F0} MiB BF16; ready in {write.Elapsed.TotalSeconds:F1} s)");
                foreach (var step in Plan(shape, dir, steps, quick, cli, pairs, work))
                {
                    var m = Measure(step.Command, Path.Combine(work, $"{shape}-{step.Name}.log"));
                    allOk &= m.ExitCode == 0;
                    string status = m.ExitCode == 0 ? "ok" : $"exit {m.ExitCode}: {m.Log}";
                    Console.WriteLine($"  {step.Name,-9} {m.Seconds,8:F1} s  {m.PeakRssBytes / 1048576.0,8:F0} MiB  {status}");
                    rows.Add($"| {shape} | {checkpoint / 1048576.0:F0} | {step.Name} | {step.Settings} | {m.Seconds:F1} | {m.PeakRssBytes / 1048576.0:F0} | {(double)m.PeakRssBytes / checkpoint:F2}× | {status} |");
                }
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
        Console.WriteLine();
        Console.WriteLine($"load average after the run: {LoadAverage()}");
        Console.WriteLine("| shape | checkpoint MiB | step | settings | wall s | peak RSS MiB | RSS / checkpoint | status |");
        Console.WriteLine("|---|---:|---|---|---:|---:|---:|---|");
        foreach (var row in rows) Console.WriteLine(row);
        return allOk ? 0 : 1;
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"scale: {message}");
        Console.Error.WriteLine($"usage: scale [--quick] [--shape {ScaleCheckpoints.Gpt2Small}|{ScaleCheckpoints.Llama1B}|all] [--steps {string.Join(",", AllSteps)}] [--cli PATH/HeadMiner.Cli.dll]");
        return 2;
    }

    private static IEnumerable<Step> Plan(string shape, string dir, string[] steps, bool quick, string cli, string pairs, string work)
    {
        List<string> Cli(params string[] a) => ["dotnet", cli, .. a];
        string tokens = quick ? "8" : "32";
        string patchTarget = quick ? "z" : "z:pos"; // layer × head, or layer × head × position (15× the patches)
        string[] atlasQuick = ["--prompts", "4", "--max-prompts", "4", "--causal-heads", "2", "--causal-random-heads", "4", "--causal-draws", "2"];
        foreach (string name in steps)
        {
            yield return name switch
            {
                "load" => new Step(name, "ModelLoader.Load only", SelfCommand("scale", "--load-child", dir)),
                "info" => new Step(name, "", Cli("info", "-m", dir)),
                "logits" => new Step(name, $"{Prompt.Split(' ').Length}-word prompt", Cli("logits", "-m", dir, "-p", Prompt)),
                "generate" => new Step(name, $"{tokens} tokens, greedy", Cli("generate", "-m", dir, "-p", Prompt, "-n", tokens)),
                "patch" => new Step(name, $"{patchTarget} sweep, 4 pairs", Cli("patch", "-m", dir, "--pairs", pairs, "--target", patchTarget, "-o", Path.Combine(work, $"{shape}-patch"))),
                "atlas" => new Step(name, quick ? string.Join(' ', atlasQuick) : "defaults", Cli(["atlas", "-m", dir, "-o", Path.Combine(work, $"{shape}-atlas"), .. quick ? atlasQuick : []])),
                _ => throw new InvalidOperationException(name),
            };
        }
    }

    /// <summary>This benchmark run as a child (under `dotnet run` the process is the dotnet host and the benchmark a dll).</summary>
    private static List<string> SelfCommand(params string[] args)
    {
        var command = new List<string> { Environment.ProcessPath! };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") command.Add(typeof(ScaleBench).Assembly.Location);
        command.AddRange(args);
        return command;
    }

    /// <summary>The CLI built next to this benchmark: src/HeadMiner.Cli/bin/&lt;same configuration&gt;/net10.0/HeadMiner.Cli.dll.</summary>
    private static string DefaultCli()
    {
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = bin.Name, configuration = bin.Parent?.Name ?? "Release";
        return Path.Combine(BenchModel.RepoRoot(), "src", "HeadMiner.Cli", "bin", configuration, framework, "HeadMiner.Cli.dll");
    }

    private static string PairsJson()
    {
        (string A, string B)[] names = [("Mary", "John"), ("Alice", "Bob"), ("Sarah", "David"), ("Anna", "James")];
        var pairs = names.Select(n => new
        {
            clean = $"When {n.A} and {n.B} went to the store, {n.B} gave a drink to",
            corrupted = $"When {n.A} and {n.B} went to the store, {n.A} gave a drink to",
            answer = " " + n.A,
            wrong = " " + n.B,
        });
        return System.Text.Json.JsonSerializer.Serialize(new { version = 1, task = "ioi", description = "scale benchmark", pairs });
    }

    /// <summary>Runs <paramref name="command"/>; wall time, the child's peak RSS and, on failure, the last line of its output.</summary>
    private static Measured Measure(List<string> command, string logPath)
    {
        bool gnuTime = File.Exists("/usr/bin/time");
        string rssFile = logPath + ".rss";
        var psi = new ProcessStartInfo(gnuTime ? "/usr/bin/time" : command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (gnuTime) foreach (var a in new[] { "-f", "%M", "-o", rssFile, command[0] }) psi.ArgumentList.Add(a);
        foreach (var a in command.Skip(1)) psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        long polled = 0;
        while (!p.WaitForExit(50))
            if (!gnuTime) polled = Math.Max(polled, PolledHwm(p.Id));
        double seconds = sw.Elapsed.TotalSeconds;
        string log = stdout.Result + stderr.Result;
        File.WriteAllText(logPath, log);
        long rss = polled;
        if (gnuTime && File.Exists(rssFile))
        {
            string last = File.ReadAllLines(rssFile).LastOrDefault(l => l.Trim().All(char.IsAsciiDigit) && l.Trim().Length > 0) ?? "0";
            rss = long.Parse(last.Trim(), CultureInfo.InvariantCulture) * 1024;
        }
        string lastLine = log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        return new Measured(seconds, rss, p.ExitCode, lastLine);
    }

    private static long PolledHwm(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            // The process ended between the check and the read.
        }
        return 0;
    }

    internal static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
