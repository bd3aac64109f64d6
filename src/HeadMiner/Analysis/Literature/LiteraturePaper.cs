namespace HeadMiner.Analysis.Literature;

/// <summary>A paper the registry cites: title, arXiv id, year, and a note (e.g. why none of its facts are registered).</summary>
public sealed record LiteraturePaper
{
    public required string Id { get; init; }
    public required string Title { get; init; }
    public required string Arxiv { get; init; }
    public int Year { get; init; }
    public string? Note { get; init; }

    /// <summary>"Title (arXiv 2211.00593)".</summary>
    public override string ToString() => $"{Title} (arXiv {Arxiv})";
}
