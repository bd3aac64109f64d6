using System.CommandLine;
using HeadMiner;
using HeadMiner.Cli;

// Entry point of `headminer`. Subcommands live one per file under Commands/ and are listed in CommandRegistry.
// Exit codes: 0 success, 1 failure (bad data, missing file, failed computation), 2 bad usage.
return CliApp.Run(args, Console.Out, Console.Error);

namespace HeadMiner.Cli
{
    public static class CliApp
    {
        public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
        {
            var verbose = new Option<bool>("--verbose") { Description = "Print stack traces on errors", Recursive = true };
            var root = new RootCommand("HeadMiner: find out what each attention head of a transformer does.");
            root.Options.Add(verbose);
            foreach (var command in CommandRegistry.Create()) root.Subcommands.Add(command);

            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                foreach (var error in parsed.Errors) stderr.WriteLine($"error: {error.Message}");
                stderr.WriteLine("Run 'headminer --help' for usage.");
                return ExitCodes.Usage;
            }
            try
            {
                return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = stdout, Error = stderr });
            }
            catch (UsageException e)
            {
                stderr.WriteLine($"error: {OneLine(e.Message)}");
                return ExitCodes.Usage;
            }
            catch (Exception e) when (e is HeadMinerException or IOException or UnauthorizedAccessException or InvalidDataException)
            {
                stderr.WriteLine($"error: {OneLine(e.Message)}");
                if (parsed.GetValue(verbose)) stderr.WriteLine(e);
                return ExitCodes.Failure;
            }
            catch (Exception e)
            {
                // A bug, not bad input: still one line unless --verbose, but say it is internal.
                stderr.WriteLine($"internal error ({e.GetType().Name}): {OneLine(e.Message)}");
                if (parsed.GetValue(verbose)) stderr.WriteLine(e);
                else stderr.WriteLine("Run again with --verbose for the stack trace.");
                return ExitCodes.Failure;
            }
        }

        /// <summary>
        /// A message may echo file content (a token with a newline, an escape sequence); control characters are shown
        /// as \uXXXX so the error stays one line and cannot drive the terminal.
        /// </summary>
        internal static string OneLine(string message) =>
            message.Any(char.IsControl) ? string.Concat(message.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString())) : message;
    }

    public static class ExitCodes
    {
        public const int Success = 0;
        public const int Failure = 1;
        public const int Usage = 2;
    }

    /// <summary>Bad usage that the parser cannot see (conflicting options, a value out of range): exit code 2.</summary>
    public sealed class UsageException(string message) : Exception(message);
}
