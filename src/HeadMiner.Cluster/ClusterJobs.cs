using System.Text.Json;
using System.Text.Json.Serialization;

namespace HeadMiner.Cluster;

/// <summary>An atlas's settings as the command line gives them; each worker derives the same <see cref="Analysis.Atlas.AtlasOptions"/>.</summary>
public sealed record AtlasJob
{
    public string? Detectors { get; init; }
    public ulong Seed { get; init; }
    public int Prompts { get; init; }
    public int MaxPrompts { get; init; }
    public int CausalHeads { get; init; }
    public int RandomHeads { get; init; }
    public int RandomDraws { get; init; }

    /// <summary>The atlas options before <see cref="Analysis.Atlas.AtlasOptions.ForModel"/>, built as `headminer atlas` builds them.</summary>
    public Analysis.Atlas.AtlasOptions Options() => new()
    {
        Detectors = Detectors,
        Detector = new Analysis.Detectors.DetectorOptions { Seed = Seed, Prompts = Prompts, MaxPrompts = MaxPrompts },
        CausalHeads = CausalHeads,
        RandomHeads = RandomHeads,
        RandomDraws = RandomDraws,
    };
}

/// <summary>A patching sweep's settings; the prompt pairs travel tokenized (the coordinator's ids), so workers need no copy of the file.</summary>
public sealed record PatchJob
{
    public required int[][] Clean { get; init; }
    public required int[][] Corrupted { get; init; }
    public required int[] Answers { get; init; }
    public required int[] Wrongs { get; init; }
    public required string Target { get; init; }
    public required string Metric { get; init; }
    public required string Direction { get; init; }

    public Tasks.TokenizedPairs Pairs() => new(Clean, Corrupted, Answers, Wrongs);

    public Analysis.Patching.PatchDirection DirectionValue() => Direction switch
    {
        "denoising" => Analysis.Patching.PatchDirection.Denoising,
        "noising" => Analysis.Patching.PatchDirection.Noising,
        _ => throw new HeadMinerException($"patch job: direction \"{Direction}\" must be denoising or noising"),
    };
}

/// <summary>An attribution-patching run's settings: the pairs tokenized (like <see cref="PatchJob"/>), one unit per shard of <see cref="ShardPairs"/> pairs.</summary>
public sealed record AttribJob
{
    public required int[][] Clean { get; init; }
    public required int[][] Corrupted { get; init; }
    public required int[] Answers { get; init; }
    public required int[] Wrongs { get; init; }
    public required string Metric { get; init; }
    public required bool Edges { get; init; }
    public required int ShardPairs { get; init; }

    public Tasks.TokenizedPairs Pairs() => new(Clean, Corrupted, Answers, Wrongs);
}

/// <summary>
/// An attribution unit's result (<see cref="Analysis.Attribution.AttributionPartial"/>): every double as its 64 bits
/// in base64, so the merge adds exactly the worker's sums (NaN and ∞ included).
/// </summary>
public sealed record AttribUnitResult
{
    public required int Shard { get; init; }
    public required int Pairs { get; init; }
    public required string Metric { get; init; }
    public required string WeightProcessing { get; init; }

    /// <summary>Two doubles: the clean and corrupted metric summed over the shard.</summary>
    public required string Sums { get; init; }
    public required string Heads { get; init; }
    public required string Mlp { get; init; }
    public string[]? EdgeSenders { get; init; }
    public string[]? EdgeReceivers { get; init; }
    public string? EdgeScores { get; init; }
}

/// <summary>A patching unit's result: the cell indices and their raw values as float32 bits (base64: exact).</summary>
public sealed record PatchUnitResult
{
    public required int[] Cells { get; init; }
    public required string Raw { get; init; }
}

public static class JobJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
    };

    public static string Write<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T Read<T>(string json, string what)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options) ?? throw new HeadMinerException($"{what}: empty");
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{what}: not valid: {e.Message}", e);
        }
    }
}
