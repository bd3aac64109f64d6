using System.CommandLine;
using HeadMiner.Cli.Commands;

namespace HeadMiner.Cli;

/// <summary>Every subcommand of `headminer`. A new command is one file under Commands/ plus one line here.</summary>
public static class CommandRegistry
{
    public static IEnumerable<Command> Create()
    {
        yield return AtlasCommand.Create();
        yield return CatalogCommand.Create();
        yield return InfoCommand.Create();
        yield return ModelsCommand.Create();
        yield return GenerateCommand.Create();
        yield return LogitsCommand.Create();
        yield return CacheCommand.Create();
        yield return PatchCommand.Create();
        yield return AttribPatchCommand.Create();
        yield return PathPatchCommand.Create();
        yield return VerifyCommand.Create();
        yield return CircuitCommand.Create();
        yield return DlaCommand.Create();
        yield return LogitLensCommand.Create();
        yield return AblateCommand.Create();
        yield return DetectCommand.Create();
        yield return ProbeCommand.Create();
        yield return TrainCommand.Create();
        yield return TasksCommand.Create();
        yield return ServeCommand.Create();
        yield return WorkerCommand.Create();
    }
}
