namespace HeadMiner.Tests.Robustness;

/// <summary>
/// What every bad input must end in (issue 12): the command either succeeds, or fails with exit code 1 (bad data) or
/// 2 (bad usage) and exactly one <c>error:</c> line — the last thing on stderr, never "internal error", never a stack
/// trace — that names the file (or folder) at fault. Each run is bounded so a hang fails the case instead of CI.
/// </summary>
internal static class CliErrorContract
{
    /// <summary>Far above any case's real cost (well under a second); only a hang reaches it.</summary>
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    /// <summary>Runs the CLI in-process; a run still going after <see cref="HangLimit"/> fails as a hang.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var run = Task.Run(() => CliRunner.Run(args));
        if (!run.Wait(HangLimit))
            throw new Xunit.Sdk.XunitException($"headminer {string.Join(' ', args)} still running after {HangLimit.TotalSeconds} s: a hang");
        return run.Result;
    }

    /// <summary>
    /// Exit 0, or exit 1/2 with one clear error line; when <paramref name="mustName"/> is given the error line must
    /// contain it (the file or folder the user has to fix). <paramref name="input"/> describes the case for the failure message.
    /// </summary>
    public static void SucceedsOrFailsClearly((int Code, string Out, string Err) result, string? mustName, string input)
    {
        var (code, _, err) = result;
        if (code == 0) return;
        string context = $"\ninput: {input}\nexit code: {code}\nstderr:\n{err}";
        if (code is not (1 or 2)) throw new Xunit.Sdk.XunitException($"exit code {code} is neither 1 (bad data) nor 2 (bad usage){context}");
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        var errors = lines.Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToArray();
        if (errors.Length != 1) throw new Xunit.Sdk.XunitException($"expected exactly one \"error:\" line, found {errors.Length}{context}");
        if (lines[^1] != errors[0]) throw new Xunit.Sdk.XunitException($"the error line is not the last line of stderr{context}");
        if (lines.Any(l => l.Contains("internal error", StringComparison.Ordinal)))
            throw new Xunit.Sdk.XunitException($"an internal error: a bug, not a clear message about the input{context}");
        if (errors[0].Length <= "error: ".Length + 5) throw new Xunit.Sdk.XunitException($"the error line says nothing{context}");
        if (mustName is not null && !errors[0].Contains(mustName, StringComparison.Ordinal))
            throw new Xunit.Sdk.XunitException($"the error line does not name {mustName}{context}");
    }
}
