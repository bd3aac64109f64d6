using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HeadMiner.Analysis.Atlas;

/// <summary>
/// What one detector contributes to an atlas: its entry in atlas.json's <c>detectors</c> and, when it ran, its part of
/// every head's labels and examples (<see cref="AtlasRunner.RunDetectors"/>). It is the unit of work a split atlas
/// moves between processes: <see cref="ToJson"/> / <see cref="FromJson"/> keep every number exactly (NaN and ±∞
/// included), so outcomes computed elsewhere assemble into the same atlas as outcomes computed here.
/// </summary>
public sealed record AtlasDetectorOutcome
{
    public required AtlasDetector Entry { get; init; }

    /// <summary>Per head, row-major (layer × head); null when the detector was skipped or failed.</summary>
    public IReadOnlyList<AtlasHeadEvidence>? Heads { get; init; }

    /// <summary>The composition scores (k_composition only).</summary>
    public AtlasComposition? Composition { get; init; }

    /// <summary>
    /// The transport format: atlas.json's naming, compact, with non-finite numbers as the literals NaN / Infinity
    /// (atlas.json itself writes them as null with a note; an outcome must come back exactly as it left).
    /// </summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string ToJson(IReadOnlyList<AtlasDetectorOutcome> outcomes) => JsonSerializer.Serialize(outcomes, Json);

    public static IReadOnlyList<AtlasDetectorOutcome> FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<List<AtlasDetectorOutcome>>(json, Json)
                ?? throw new HeadMinerException($"{source}: empty atlas outcomes");
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{source}: not valid atlas outcomes: {e.Message}", e);
        }
    }
}

/// <summary>One detector's part of one head: its label (when it passes), the label's rank key and its first distinct examples.</summary>
public sealed record AtlasHeadEvidence
{
    public AtlasLabel? Label { get; init; }

    /// <summary>Score over threshold: labels of one head are listed by this, highest first.</summary>
    public double Rank { get; init; }

    public IReadOnlyList<AtlasAttended> Examples { get; init; } = [];
}
