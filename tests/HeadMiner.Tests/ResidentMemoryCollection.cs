namespace HeadMiner.Tests;

/// <summary>
/// Tests that measure the process's resident set run alone: while other tests allocate and their garbage is
/// collected, the test process's RSS moves by hundreds of MiB for reasons of their own.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ResidentMemoryCollection
{
    public const string Name = "process-wide resident memory";
}
