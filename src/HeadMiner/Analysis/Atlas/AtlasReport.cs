using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Json;

namespace HeadMiner.Analysis.Atlas;

/// <summary>
/// The atlas of one model: every detector's scores, the causal confirmation of the task-measured types, and per head
/// its labels and examples. Serialised as atlas.json, schema <see cref="SchemaName"/> version <see cref="CurrentVersion"/>
/// (docs/ATLAS.md); the HTML report and the explorer read the same object.
/// </summary>
public sealed record AtlasReport
{
    public const string SchemaName = "headminer.atlas";
    public const int CurrentVersion = 2;

    public string Schema { get; init; } = SchemaName;
    public int Version { get; init; } = CurrentVersion;
    public required string CreatedUtc { get; init; }
    public required string ToolVersion { get; init; }
    public required ulong Seed { get; init; }
    public required AtlasModel Model { get; init; }
    public required IReadOnlyList<AtlasDetector> Detectors { get; init; }
    public required IReadOnlyList<AtlasHead> Heads { get; init; }
    public AtlasComposition? Composition { get; init; }

    /// <summary>Agreement with published head facts when the weights are a registered model (docs/ATLAS.md); null otherwise.</summary>
    public AtlasLiterature? Literature { get; init; }

    /// <summary>Each task's circuit and its heads' roles (<see cref="AtlasCircuits"/>); null when not run (--no-circuits).</summary>
    public AtlasCircuits? Circuits { get; init; }

    /// <summary>How the run was set up beyond the options (e.g. the prompt vocabulary a model's headminer.json chose).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.Strict,
        Converters = { new NonFiniteAsNullConverter() },
    };

    /// <summary>atlas.json's text: NaN/±∞ written as null and listed under "non_finite" (docs/ATLAS.md).</summary>
    public string ToJson() => FiniteJson.Serialize(this, Json).Json;

    /// <summary>Writes atlas.json atomically; the result lists the values written as null (empty when none).</summary>
    public FiniteJsonText Write(string path)
    {
        var text = FiniteJson.Serialize(this, Json);
        AtomicFile.WriteAllText(path, text.Json);
        return text;
    }

    /// <summary>Reads atlas.json; a different schema, a newer version or malformed JSON is an error naming the file.</summary>
    public static AtlasReport Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{path}: cannot read the atlas: {e.Message}", e);
        }
        return Parse(text, path);
    }

    public static AtlasReport Parse(string text, string source = "atlas.json")
    {
        AtlasReport? report;
        try
        {
            report = JsonSerializer.Deserialize<AtlasReport>(text, Json);
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{source}: not a valid atlas: {e.Message}", e);
        }
        if (report is null) throw new HeadMinerException($"{source}: empty atlas");
        if (report.Schema != SchemaName) throw new HeadMinerException($"{source}: schema \"{report.Schema}\" is not {SchemaName}");
        if (report.Version > CurrentVersion) throw new HeadMinerException($"{source}: atlas version {report.Version} is newer than this tool reads ({CurrentVersion})");
        return report;
    }

    /// <summary>[layers][heads] as nested arrays, NaN → null (JSON has no NaN).</summary>
    public static double?[][] Matrix(Tensor scores)
    {
        var s = scores.Contiguous();
        int rows = s.Dim(0), cols = s.Dim(1);
        var result = new double?[rows][];
        for (int r = 0; r < rows; r++)
        {
            result[r] = new double?[cols];
            for (int c = 0; c < cols; c++)
            {
                float v = s[r, c];
                result[r][c] = float.IsFinite(v) ? Math.Round(v, 6) : null;
            }
        }
        return result;
    }
}

public sealed record AtlasModel
{
    /// <summary>The description of a loaded model that an atlas records (its name is the directory or file name).</summary>
    public static AtlasModel Of(Models.LoadedModel loaded, bool weightsOnly = false) => InMemory(loaded.Model, loaded.Path) with
    {
        Name = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(loaded.Path)),
        WeightsOnly = weightsOnly,
    };

    /// <summary>The description of a model built in memory (planted, untrained): no file; <paramref name="name"/> is its path and name.</summary>
    public static AtlasModel InMemory(Models.Transformer model, string name) => new()
    {
        Path = name,
        Name = name,
        Architecture = model.Config.Architecture,
        Layers = model.Config.Layers,
        Heads = model.Config.Heads,
        KvHeads = model.Config.KvHeads,
        DModel = model.Config.DModel,
        ContextLength = model.Config.ContextLength,
        VocabSize = model.Config.VocabSize,
        WeightsOnly = false,
        Processing = model.Processing.ToString(),
        Precision = model.Precision == Tensors.ArithmeticPrecision.Bf16 ? "bf16" : "fp32",
    };

    public required string Path { get; init; }
    public required string Name { get; init; }
    public required string Architecture { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int DModel { get; init; }
    public required int ContextLength { get; init; }
    public required int VocabSize { get; init; }
    public required bool WeightsOnly { get; init; }
    public required string Processing { get; init; }

    /// <summary>The arithmetic of the weight products the atlas's forwards ran in: fp32 or bf16 (--precision).</summary>
    public string Precision { get; init; } = "fp32";
}

public sealed record AtlasDetector
{
    public required string Id { get; init; }
    public string? HeadType { get; init; }
    public string? Stage { get; init; }
    public required string Kind { get; init; }
    public required string Description { get; init; }

    /// <summary>ran | skipped | failed.</summary>
    public required string Status { get; init; }
    public string? Reason { get; init; }

    /// <summary>Wall time of the detector, its causal check included (<see cref="AtlasCausal.Seconds"/> is that part).</summary>
    public double Seconds { get; init; }

    /// <summary>
    /// The process's peak resident set while this detector (and its causal check) ran, in MiB: the mapped weights it
    /// touched plus its working set (<see cref="Tensors.ResidentMemory"/>); null where the system does not report it.
    /// </summary>
    [JsonPropertyName("peak_rss_mib")]
    public double? PeakRssMiB { get; init; }

    public double? Threshold { get; init; }
    public string? ThresholdReason { get; init; }
    public double? Baseline { get; init; }
    public double?[][]? Scores { get; init; }

    /// <summary>[layers][heads] lower and upper bounds of the 95% bootstrap intervals (null for exact scores).</summary>
    public double?[][]? IntervalLow { get; init; }

    public double?[][]? IntervalHigh { get; init; }

    /// <summary>How the number of prompts was settled: decided, budget reached (undecided heads), a fixed set, or exact.</summary>
    public string? Sampling { get; init; }

    /// <summary>Measured false-positive rate of <see cref="Threshold"/> per head on untrained models (null without null data).</summary>
    public double? ThresholdFalsePositiveRate { get; init; }

    public IReadOnlyList<string> Notes { get; init; } = [];
    public AtlasCausal? Causal { get; init; }
}

public sealed record AtlasHead
{
    public required int Layer { get; init; }
    public required int Head { get; init; }
    public required IReadOnlyList<AtlasLabel> Labels { get; init; }
    public required IReadOnlyList<AtlasAttended> TopAttended { get; init; }
}

/// <summary>
/// One label of one head (docs/ATLAS.md, "How to read a label"): the type, its score with the 95% bootstrap
/// interval (a label is given only when the lower bound clears the detector's threshold), the share of heads in
/// untrained models that score at least the lower bound (the label's false-positive rate), and for types with a task
/// metric the causal evidence: the metric's change when this head is ablated alone and when all the type's labelled
/// heads are ablated together, each with its percentile among random heads, and the grade.
/// </summary>
public sealed record AtlasLabel(string Type, string? Stage, double Score)
{
    /// <summary>[low, high] 95% bootstrap interval of the score (equal to the score for exact, weight-based scores).</summary>
    public double[]? Interval { get; init; }

    /// <summary>Measured on untrained models: (1 + null heads scoring ≥ the interval's lower bound) / (1 + null heads); null without null data.</summary>
    public double? FalsePositiveRate { get; init; }

    /// <summary>Metric change (positive = worse) when this head alone is ablated (the detector's primary ablation).</summary>
    public double? EffectAlone { get; init; }

    /// <summary>Percentile (0–100) of <see cref="EffectAlone"/> among single random heads ablated alone.</summary>
    public double? EffectAlonePercentile { get; init; }

    /// <summary>Metric change when all heads labelled with this type are ablated together.</summary>
    public double? EffectTogether { get; init; }

    /// <summary>Percentile (0–100) of <see cref="EffectTogether"/> among random sets of as many heads.</summary>
    public double? EffectTogetherPercentile { get; init; }

    /// <summary>"causally_confirmed", "pattern_only", or "no_task_metric" (the type has no causal check here).</summary>
    public string? Grade { get; init; }
}

public sealed record AtlasAttended(string Prompt, int QueryIndex, string Query, int KeyIndex, string Key, double Weight);

public sealed record AtlasComposition
{
    public required double? Baseline { get; init; }

    /// <summary>"q" / "k" / "v" → [sender][receiver], index = layer · heads + head; null where not defined.</summary>
    public required IReadOnlyDictionary<string, double?[][]> Scores { get; init; }

    /// <summary>The <paramref name="count"/> strongest (sender, receiver) pairs of one kind, as (layer, head) indices with heads per layer <paramref name="heads"/>.</summary>
    public IReadOnlyList<(int SenderLayer, int SenderHead, int ReceiverLayer, int ReceiverHead, double Score)> TopPairs(string kind, int heads, int count)
    {
        if (!Scores.TryGetValue(kind, out var m)) return [];
        var pairs = new List<(int, int, int, int, double)>();
        for (int s = 0; s < m.Length; s++)
            for (int r = 0; r < m[s].Length; r++)
                if (m[s][r] is double v) pairs.Add((s / heads, s % heads, r / heads, r % heads, v));
        return [.. pairs.OrderByDescending(p => p.Item5).Take(count)];
    }
}
