namespace HeadMiner.Tests;

/// <summary>
/// Tests that run `dotnet build`, `pack` or `run` on the repository's projects run one at a time: two MSBuild runs of
/// src/HeadMiner at once (a pack reading its outputs while an example's build checks them) could see each other's
/// half-written obj/ files.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DotnetBuildCollection
{
    public const string Name = "dotnet builds of the repository's projects";
}
