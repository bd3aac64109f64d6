using System.CommandLine;
using HeadMiner;
using HeadMiner.Cli;

// Entry point of `headminer`. Subcommands live one per file under Commands/ and are listed in CommandRegistry.
// Exit codes: 0 success, 1 failure (bad data, missing file, failed computation), 2 bad usage, 130/143 stopped by
// SIGINT/SIGTERM (README, "Errors and exit codes").
return CliApp.Run(args, Console.Out, Console.Error);

namespace HeadMiner.Cli
{
    public static class CliApp
    {
        /// <summary>Runs one command line; SIGINT and SIGTERM ask the command to stop (<see cref="StopSignals"/>).</summary>
        public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
        {
            using var signals = StopSignals.Register();
            return Run(args, stdout, stderr, signals);
        }

        /// <summary>Runs one command line that stops when <paramref name="stop"/> is requested (tests request it themselves).</summary>
        public static int Run(string[] args, TextWriter stdout, TextWriter stderr, StopSignals stop)
        {
            // A command that fails or stops leaves no empty output folder behind (it checked -o before the work).
            var created = CreatedOutputFolders.Track();
            int code = RunCommand(args, stdout, stderr, stop);
            if (code != ExitCodes.Success) created.RemoveEmpty();
            return code;
        }

        private static int RunCommand(string[] args, TextWriter stdout, TextWriter stderr, StopSignals stop)
        {
            var verbose = new Option<bool>("--verbose") { Description = "Print stack traces on errors", Recursive = true };
            var root = new RootCommand("HeadMiner: find out what each attention head of a transformer does.");
            root.Options.Add(verbose);
            foreach (var command in CommandRegistry.Create()) root.Subcommands.Add(command);

            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                foreach (var error in parsed.Errors) stderr.WriteLine($"error: {TerminalText.Escape(error.Message)}");
                stderr.WriteLine("Run 'headminer --help' for usage.");
                return ExitCodes.Usage;
            }
            try
            {
                // ProcessTerminationTimeout = null: System.CommandLine would otherwise hook the same signals itself and,
                // when the action has not finished within the timeout, return 130/143 while the work still runs and
                // its files are half written. Here the action's token is ours and the command decides when it stops.
                var configuration = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null, Output = stdout, Error = stderr };
                return parsed.InvokeAsync(configuration, stop.Token).GetAwaiter().GetResult();
            }
            catch (Exception e) when (stop.Requested && IsCancellation(e))
            {
                // A progress line rewritten in place has no newline yet: end it so the message starts a line.
                if (ProgressOutput.InPlace(stderr)) stderr.WriteLine();
                string summary = e is CommandStoppedException stopped ? stopped.Summary : $"{parsed.CommandResult.Command.Name} stopped; nothing written";
                stderr.WriteLine($"interrupted ({stop.Name}): {summary}");
                if (parsed.GetValue(verbose)) stderr.WriteLine(e);
                return stop.ExitCode;
            }
            catch (UsageException e)
            {
                stderr.WriteLine($"error: {TerminalText.Escape(e.Message)}");
                return ExitCodes.Usage;
            }
            catch (Exception e) when (e is HeadMinerException or IOException or UnauthorizedAccessException or InvalidDataException)
            {
                stderr.WriteLine($"error: {TerminalText.Escape(e.Message)}");
                if (parsed.GetValue(verbose)) stderr.WriteLine(e);
                return ExitCodes.Failure;
            }
            catch (Exception e)
            {
                // A bug, not bad input: still one line unless --verbose, but say it is internal.
                stderr.WriteLine($"internal error ({e.GetType().Name}): {TerminalText.Escape(e.Message)}");
                if (parsed.GetValue(verbose)) stderr.WriteLine(e);
                else stderr.WriteLine("Run again with --verbose for the stack trace.");
                return ExitCodes.Failure;
            }
        }

        /// <summary>Whether <paramref name="e"/> is a stop: a cancellation, or one that parallel work wrapped.</summary>
        private static bool IsCancellation(Exception e) => e switch
        {
            OperationCanceledException => true,
            AggregateException a => a.Flatten().InnerExceptions.All(IsCancellation),
            _ => false,
        };
    }

    public static class ExitCodes
    {
        public const int Success = 0;
        public const int Failure = 1;
        public const int Usage = 2;

        /// <summary>Stopped by SIGINT (Ctrl+C): 128 + 2, what a shell reports for a process the signal ended.</summary>
        public const int Interrupted = 130;

        /// <summary>Stopped by SIGTERM (systemd, Docker, Kubernetes, kill): 128 + 15.</summary>
        public const int Terminated = 143;
    }

    /// <summary>Bad usage that the parser cannot see (conflicting options, a value out of range): exit code 2.</summary>
    public sealed class UsageException(string message) : Exception(message);
}
