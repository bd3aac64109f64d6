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
