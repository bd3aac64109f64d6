namespace HeadMiner.Explorer;

/// <summary>How to start the explorer: which models (only these can be chosen from the page), where to listen, limits.</summary>
public sealed record ExplorerOptions
{
    public required IReadOnlyList<ExplorerModelSpec> Models { get; init; }

    /// <summary>Address to bind. Loopback unless the user names another one explicitly (the CLI then warns).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (see <see cref="ExplorerServer.Url"/>).</summary>
    public int Port { get; init; } = 5117;

    public ExplorerLimits Limits { get; init; } = new();

    /// <summary>Computes an atlas for a model without a saved one; null: the page says none is available.</summary>
    public IAtlasProvider? AtlasOnDemand { get; init; }
}
