namespace HeadMiner.Cli;

/// <summary>
/// A command stopped on a signal, with what it did and what it left on disk ("atlas stopped after 5 of 21 detectors;
/// nothing written"). The CLI prints it after "interrupted (SIGTERM): " and exits 130 or 143. A plain
/// OperationCanceledException gets a generic summary instead.
/// </summary>
public sealed class CommandStoppedException(string summary) : OperationCanceledException(summary)
{
    public string Summary { get; } = summary;
}
