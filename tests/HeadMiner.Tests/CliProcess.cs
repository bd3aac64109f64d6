using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace HeadMiner.Tests;

/// <summary>
/// The built `headminer` (HeadMiner.Cli.dll, copied beside the test binaries) run as a real child process, for what
/// in-process runs cannot show: a POSIX signal reaching the command, its exit status and what it left on disk.
/// Lines of stdout and stderr are collected as they arrive, so a test can wait for the command to start working.
/// </summary>
internal sealed partial class CliProcess : IDisposable
{
    public const int SIGINT = 2, SIGTERM = 15;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = [];
    private readonly ConcurrentQueue<string> _stdout = new(), _stderr = new();

    private CliProcess(Process process) => _process = process;

    public static CliProcess Start(string workingDirectory, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "HeadMiner.Cli.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"the CLI is not beside the test binaries: {dll}", dll);
        // The dotnet CLI names its own host for child processes; a test run outside it finds `dotnet` on PATH.
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var start = new ProcessStartInfo { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // A process started in the background by a non-interactive shell inherits SIGINT as ignored, and .NET then
        // leaves it ignored: restore the default disposition so that the child can receive Ctrl+C at all.
        if (SigIntIgnored())
        {
            start.FileName = "env";
            start.ArgumentList.Add("--default-signal=INT");
            start.ArgumentList.Add(host);
        }
        else
        {
            start.FileName = host;
        }
        start.ArgumentList.Add(dll);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        start.Environment["HEADMINER_THREADS"] = "2";
        var process = new Process { StartInfo = start };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            cli._stdout.Enqueue(e.Data);
            cli._lines.Add(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            cli._stderr.Enqueue(e.Data);
            cli._lines.Add(e.Data);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    public string Stdout => string.Join('\n', _stdout);

    public string Stderr => string.Join('\n', _stderr);

    /// <summary>
    /// Waits for the first line of stdout or stderr that satisfies <paramref name="match"/> (a progress line: the
    /// command is working). Fails when the process exits first or nothing matches within the patience.
    /// </summary>
    public string WaitForLine(Func<string, bool> match)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Patience)
        {
            if (_lines.TryTake(out string? line, TimeSpan.FromMilliseconds(200)))
            {
                if (match(line)) return line;
            }
            else if (_process.HasExited)
            {
                _process.WaitForExit();
                if (_lines.Count == 0) throw new InvalidOperationException($"the command exited ({_process.ExitCode}) before the line the test waits for; stderr:\n{Stderr}");
            }
        }
        throw new TimeoutException($"no matching line within {Patience.TotalSeconds} s; stderr so far:\n{Stderr}");
    }

    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Waits for the exit and returns the status; a process that does not stop is killed and fails the test.</summary>
    public int WaitForExit()
    {
        if (!_process.WaitForExit(Patience))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the command did not exit within {Patience.TotalSeconds} s of the signal; stderr:\n{Stderr}");
        }
        _process.WaitForExit(); // drains the redirected streams
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
        // _lines is not disposed: a late output event could still add to it.
    }

    /// <summary>Whether this process ignores SIGINT (bit 2 of SigIgn in /proc/self/status; Linux only, false elsewhere).</summary>
    private static bool SigIntIgnored()
    {
        if (!File.Exists("/proc/self/status")) return false;
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (SIGINT - 1))) != 0;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
