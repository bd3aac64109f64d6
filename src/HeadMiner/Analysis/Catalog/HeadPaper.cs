using System.Text.Json.Serialization;

namespace HeadMiner.Analysis.Catalog;

/// <summary>A paper of the survey's list that studies a head type: title, date (yyyy-mm-dd) and link.</summary>
public sealed record HeadPaper(
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("date")] string Date,
    [property: JsonPropertyName("url")] string Url,
    [property: JsonPropertyName("code_url")] string? CodeUrl = null);
