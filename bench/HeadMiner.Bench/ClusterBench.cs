using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace HeadMiner.Bench;

/// <summary>
/// `cluster`: attribution patching split into prompt shards (one unit each) on an Orleans cluster of 1, 2 and 3
/// `headminer worker` processes on this machine, against the single-process run measured in the same bench run.
/// Each worker is pinned to one core (taskset, worker i on core i mod cores) with HEADMINER_THREADS=1, so a worker
/// is one core's worth of compute; the single-process reference runs the same way (one core, one thread), and once
/// unpinned on every core. Two workloads: <b>compute</b> (GPT-2-small shape, <see cref="ScaleCheckpoints"/>: units of
/// a few hundred ms) for throughput and speed-up, and <b>tiny</b> (the embedded model, one pair per unit: milliseconds
/// of compute) for what coordination costs per unit. Every worker line is time-stamped as it arrives; a run's
/// <i>span</i> is from the first unit's start to the last unit's end on the workers, <i>compute</i> is what the
/// workers report for UnitRunner alone, and <i>overhead per unit</i> is (workers × span − Σ compute) ÷ units: the
/// worker time not spent computing (lease and hand-back calls, idle polls, the tail where some workers wait for the
/// last unit). Each cluster gets a warm-up run first (the workers load the model on their first unit).
/// </summary>
public static partial class ClusterBench
{
    private sealed record Workload(string Name, string Model, string Pairs, int ShardPairs, int Units);

    private sealed record Timed(double Span, double Compute, int Units, double ClientWall);

    public static int Run(string[] args)
    {
        string? cli = null;
        int maxWorkers = 3;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--cli" when i + 1 < args.Length: cli = args[++i]; break;
                case "--max-workers" when i + 1 < args.Length && int.TryParse(args[i + 1], out int m) && m >= 1: maxWorkers = m; i++; break;
                default: return Usage($"unknown or incomplete option '{args[i]}'");
            }
        }
        cli ??= DefaultCli();
        if (!File.Exists(cli)) return Usage($"the headminer CLI is not built at {cli} (dotnet build -c Release src/HeadMiner.Cli, or pass --cli PATH to HeadMiner.Cli.dll)");
        bool pin = File.Exists("/usr/bin/taskset");
        int cores = Environment.ProcessorCount;
        string work = Path.Combine(Path.GetTempPath(), $"headminer-bench-cluster-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        try
        {
            string ioi = Path.Combine(work, "ioi.json");
            File.WriteAllText(ioi, IoiPairs(24));
            var workloads = new[]
            {
                new Workload("compute", ScaleCheckpoints.Directory(ScaleCheckpoints.Gpt2Small), ioi, 2, 12),
                new Workload("tiny", Path.Combine(BenchModel.RepoRoot(), "models", "embedded"), Path.Combine(BenchModel.RepoRoot(), "tests", "fixtures", "embedded", "repeated-segments.json"), 1, 12),
            };
            Console.WriteLine($"cluster: attrib-patch by prompt shards; CLI {cli}; {cores} CPUs; load average {LoadAverage()}; " +
                (pin ? "workers pinned with taskset, one thread each" : "taskset not found: workers unpinned, one thread each"));
            Console.WriteLine();
            Console.WriteLine("| workload | run | units | span s | units/s | vs single (1 core) | compute s/unit | overhead ms/unit | client wall s |");
            Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var w in workloads)
            {
                var single = Single(cli, w, work, pin ? 0 : null, threads: 1);
                var wide = Single(cli, w, work, null, threads: cores);
                Row(w, "single process, 1 core", single, single);
                Row(w, $"single process, {cores} threads", wide, single);
                for (int k = 1; k <= maxWorkers; k++)
                {
                    var t = OnCluster(cli, w, work, k, pin, cores);
                    Row(w, $"{k} worker{(k > 1 ? "s" : "")}{(pin && k > cores ? $" on {cores} cores" : "")}", t, single, k);
                }
            }
            Console.WriteLine();
            Console.WriteLine("span: first unit start → last unit end on the workers (single process: its attribution time); overhead: (workers × span − Σ compute) ÷ units;");
            Console.WriteLine("client wall: the submitting command from start to exit (process start, model load and fingerprint, connect, 250 ms polls, merge, writing).");
            return 0;
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static void Row(Workload w, string run, Timed t, Timed single, int workers = 1)
    {
        var inv = CultureInfo.InvariantCulture;
        double overhead = (workers * t.Span - t.Compute) / t.Units * 1000;
        Console.WriteLine(string.Create(inv, $"| {w.Name} | {run} | {t.Units} | {t.Span:F2} | {t.Units / t.Span:F1} | {single.Span / t.Span:F2}× | {t.Compute / t.Units:F4} | {overhead:F1} | {t.ClientWall:F1} |"));
    }

    /// <summary>The command without --cluster; its "attribution: … in X s" line is the span (compute and sums, no load).</summary>
    private static Timed Single(string cli, Workload w, string work, int? core, int threads)
    {
        var clock = Stopwatch.StartNew();
        var (code, _, err) = RunToEnd(Command(cli, core, ["attrib-patch", "-m", w.Model, "--pairs", w.Pairs, "--shard-pairs", $"{w.ShardPairs}", "-o", Path.Combine(work, "single")]), threads);
        double wall = clock.Elapsed.TotalSeconds;
        if (code != 0) throw new InvalidOperationException($"single-process attrib-patch failed ({code}): {err}");
        var m = AttributionSeconds().Match(err);
        if (!m.Success) throw new InvalidOperationException($"no attribution time in: {err}");
        double seconds = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return new Timed(seconds, seconds, w.Units, wall);
    }

    private static Timed OnCluster(string cli, Workload w, string work, int count, bool pin, int cores)
    {
        int[] ports = FreePorts(2 * count);
        string config = Path.Combine(work, $"cluster-{count}.json");
        File.WriteAllText(config, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["clustering"] = "localhost",
            ["primary_silo_port"] = ports[0],
            ["gateway_ports"] = ports[count..],
            ["connect_timeout_seconds"] = 60,
        }));
        var workers = new List<Worker>();
        try
        {
            for (int i = 0; i < count; i++)
                workers.Add(Worker.Start(Command(cli, pin ? i % cores : null, ["worker", "--cluster", config, "--silo-port", $"{ports[i]}", "--gateway-port", $"{ports[count + i]}"])));
            foreach (var worker in workers) worker.WaitFor("joined the cluster", TimeSpan.FromSeconds(180));
            string[] client = ["attrib-patch", "-m", w.Model, "--pairs", w.Pairs, "--shard-pairs", $"{w.ShardPairs}", "--cluster", config];
            // Warm-up: each worker loads (maps and fingerprints) the model on its first unit.
            var warm = RunToEnd(Command(cli, null, [.. client, "-o", Path.Combine(work, $"warm-{count}")]), 1);
            if (warm.Code != 0) throw new InvalidOperationException($"warm-up cluster run failed ({warm.Code}): {warm.Err}");
            foreach (var worker in workers) worker.Lines.Clear();
            var clock = Stopwatch.StartNew();
            var (code, _, err) = RunToEnd(Command(cli, null, [.. client, "-o", Path.Combine(work, $"cluster-{count}")]), 1);
            double wall = clock.Elapsed.TotalSeconds;
            if (code != 0) throw new InvalidOperationException($"cluster attrib-patch failed ({code}): {err}");
            var lines = workers.SelectMany(x => x.Lines).ToList();
            var starts = lines.Where(l => l.Text.Contains(": attrib attrib-", StringComparison.Ordinal)).Select(l => l.Seconds).ToList();
            var done = lines.Select(l => (l.Seconds, Match: UnitDone().Match(l.Text))).Where(x => x.Match.Success).ToList();
            if (starts.Count == 0 || done.Count < w.Units) throw new InvalidOperationException($"{count} workers: {starts.Count} unit starts and {done.Count} unit ends seen, expected {w.Units}");
            double span = done.Max(d => d.Seconds) - starts.Min();
            double compute = done.Sum(d => double.Parse(d.Match.Groups[1].Value, CultureInfo.InvariantCulture));
            return new Timed(span, compute, done.Count, wall);
        }
        finally
        {
            foreach (var worker in workers) worker.Dispose();
        }
    }

    private static List<string> Command(string cli, int? core, string[] args) =>
        core is { } c ? ["/usr/bin/taskset", "-c", $"{c}", "dotnet", cli, .. args] : ["dotnet", cli, .. args];

    private static (int Code, string Out, string Err) RunToEnd(List<string> command, int threads)
    {
        var psi = Start(command, threads);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', command)} ran over 10 minutes");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static ProcessStartInfo Start(List<string> command, int threads)
    {
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in command.Skip(1)) psi.ArgumentList.Add(a);
        psi.Environment["HEADMINER_THREADS"] = $"{threads}";
        return psi;
    }

    /// <summary>A worker process whose lines (stdout and stderr) are time-stamped on arrival, on one clock for all workers.</summary>
    private sealed class Worker : IDisposable
    {
        private static readonly Stopwatch Clock = Stopwatch.StartNew();
        private readonly Process _process;

        public ConcurrentQueue<(double Seconds, string Text)> Lines { get; } = new();

        private Worker(Process process) => _process = process;

        public static Worker Start(List<string> command)
        {
            var process = new Process { StartInfo = ClusterBench.Start(command, 1) };
            var worker = new Worker(process);
            process.OutputDataReceived += (_, e) => { if (e.Data is { } line) worker.Lines.Enqueue((Clock.Elapsed.TotalSeconds, line)); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) worker.Lines.Enqueue((Clock.Elapsed.TotalSeconds, line)); };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return worker;
        }

        public void WaitFor(string text, TimeSpan patience)
        {
            var clock = Stopwatch.StartNew();
            while (!Lines.Any(l => l.Text.Contains(text, StringComparison.Ordinal)))
            {
                if (_process.HasExited) throw new InvalidOperationException($"worker exited ({_process.ExitCode}): {string.Join('\n', Lines.Select(l => l.Text))}");
                if (clock.Elapsed > patience) throw new TimeoutException($"no \"{text}\" from a worker in {patience.TotalSeconds:0} s");
                Thread.Sleep(100);
            }
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited) _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
            }
            _process.Dispose();
        }
    }

    /// <summary><paramref name="count"/> IOI-style pairs of one token length (names that are one GPT-2 token each).</summary>
    private static string IoiPairs(int count)
    {
        string[] names = ["Mary", "John", "Alice", "Bob", "Sarah", "David", "Anna", "James"];
        string[] places = ["store", "park", "school", "beach"];
        var pairs = Enumerable.Range(0, count).Select(i =>
        {
            string a = names[i % names.Length], b = names[(i + 1 + i / names.Length) % names.Length];
            if (a == b) b = names[(i + 2) % names.Length];
            string place = places[i % places.Length];
            return new
            {
                clean = $"When {a} and {b} went to the {place}, {b} gave a drink to",
                corrupted = $"When {a} and {b} went to the {place}, {a} gave a drink to",
                answer = " " + a,
                wrong = " " + b,
            };
        });
        return JsonSerializer.Serialize(new { version = 1, task = "ioi", description = "cluster benchmark", pairs });
    }

    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        int[] ports = [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        foreach (var l in listeners) l.Stop();
        return ports;
    }

    private static string DefaultCli()
    {
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = bin.Name, configuration = bin.Parent?.Name ?? "Release";
        return Path.Combine(BenchModel.RepoRoot(), "src", "HeadMiner.Cli", "bin", configuration, framework, "HeadMiner.Cli.dll");
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"cluster: {message}");
        Console.Error.WriteLine("usage: HeadMiner.Bench cluster [--max-workers 3] [--cli PATH/HeadMiner.Cli.dll]");
        return 2;
    }

    [GeneratedRegex(@"attribution: .* in ([0-9.]+) s")]
    private static partial Regex AttributionSeconds();

    [GeneratedRegex(@": done attribution shard \d+: .* \(compute ([0-9.]+) s\)")]
    private static partial Regex UnitDone();
}
