using System.Runtime.InteropServices;

namespace HeadMiner.Cli;

/// <summary>
/// SIGINT and SIGTERM as a cancellation token. The first signal cancels the token and keeps the process alive, so the
/// running command can stop at its next check, leave its outputs whole and say what it kept; a second signal is left
/// to the default action (immediate termination), the way out when a command does not stop. SIGTERM matters as much
/// as Ctrl+C: it is what systemd, Docker and Kubernetes send. <see cref="Register"/> hooks the process's signals; a
/// plain <c>new StopSignals()</c> hooks none and stops only through <see cref="Request"/> (in-process tests).
/// </summary>
public sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _signal;

    public CancellationToken Token => _source.Token;

    /// <summary>The signal that asked the command to stop, or null while none has.</summary>
    public PosixSignal? Signal => _signal == 0 ? null : (PosixSignal)_signal;

    public bool Requested => _signal != 0;

    /// <summary>The conventional shell status of a process ended by the signal: 128 + its number (SIGINT 2, SIGTERM 15).</summary>
    public int ExitCode => Signal == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Interrupted;

    public string Name => Signal == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT";

    /// <summary>Hooks SIGINT and SIGTERM for the lifetime of this object.</summary>
    public static StopSignals Register()
    {
        var signals = new StopSignals();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
            signals._registrations.Add(PosixSignalRegistration.Create(signal, context => context.Cancel = signals.Request(context.Signal)));
        return signals;
    }

    /// <summary>
    /// Asks the command to stop as if <paramref name="signal"/> had arrived. True the first time (the caller should
    /// suppress the signal's default action); false afterwards.
    /// </summary>
    public bool Request(PosixSignal signal)
    {
        if (Interlocked.CompareExchange(ref _signal, (int)signal, 0) != 0) return false;
        _source.Cancel();
        return true;
    }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _source.Dispose();
    }
}
