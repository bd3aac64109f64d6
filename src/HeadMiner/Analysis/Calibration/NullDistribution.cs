using System.Globalization;
using System.Text;
using System.Text.Json;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Calibration;

/// <summary>
/// Every detector's per-head scores on models where the head function cannot exist (docs/DETECTORS.md,
/// "Calibration"): untrained models and real models with shuffled attention rows. <see cref="Default"/> is the table
/// `bench calibrate` measured, embedded in the library (null-distribution.json). Scores are as in
/// <c>DetectorResult.Scores</c>; NaN heads are not counted. Kept sorted, rounded up to 4 decimals (so a count of
/// null heads at or above a score is never underestimated); the JSON stores each distinct value once with its count.
/// </summary>
public sealed class NullDistribution
{
    public const string SchemaName = "headminer.null-distribution";
    public const int CurrentVersion = 1;
    private const string ResourceName = "HeadMiner.Analysis.Calibration.null-distribution.json";

    /// <summary>The per-head false-positive rate the calibrated thresholds hold (docs/DETECTORS.md, "Calibration").</summary>
    public const double Alpha = 0.001;

    private static readonly Lazy<NullDistribution> Embedded = new(LoadEmbedded);

    /// <summary>One detector's null: sorted scores, how many models they came from, and the label thresholds the detector reported.</summary>
    public sealed record Entry(string DetectorId, double[] Scores, int Models, string Units, double[] Thresholds, double? RelativeMax = null);

    private readonly Dictionary<string, Entry> _entries;

    public NullDistribution(IEnumerable<Entry> entries, IReadOnlyList<string> settings, IReadOnlyList<NullModelInfo> models, string createdUtc)
    {
        _entries = [];
        foreach (var e in entries)
        {
            var sorted = e.Scores.Where(double.IsFinite).Select(Round).OrderBy(x => x).ToArray();
            _entries[e.DetectorId] = e with { Scores = sorted };
        }
        Settings = settings;
        Models = models;
        CreatedUtc = createdUtc;
    }

    /// <summary>A model of the null set as recorded in the table.</summary>
    public sealed record NullModelInfo(string Name, string Kind, string Architecture, string Tokenizer, int Layers, int Heads, int KvHeads, int DModel, float? Std, ulong Seed);

    /// <summary>The table embedded in the library (measured by `bench calibrate`).</summary>
    public static NullDistribution Default => Embedded.Value;

    /// <summary>How the null was measured: prompts, segment length, seeds.</summary>
    public IReadOnlyList<string> Settings { get; }

    public IReadOnlyList<NullModelInfo> Models { get; }

    public string CreatedUtc { get; }

    public IEnumerable<string> DetectorIds => _entries.Keys;

    public Entry? Find(string detectorId) => _entries.GetValueOrDefault(detectorId);

    /// <summary>Null heads measured for the detector (0 when none).</summary>
    public int Count(string detectorId) => _entries.TryGetValue(detectorId, out var e) ? e.Scores.Length : 0;

    /// <summary>
    /// (1 + null heads scoring ≥ <paramref name="score"/>) / (1 + n): the chance that a head without the function scores
    /// at least this, with the +1 that keeps a finite sample from claiming a zero rate. Null when the detector has no data.
    /// </summary>
    public double? FalsePositiveRate(string detectorId, double score)
    {
        if (!_entries.TryGetValue(detectorId, out var e) || e.Scores.Length == 0 || double.IsNaN(score)) return null;
        int n = e.Scores.Length;
        return (1.0 + AtLeast(e.Scores, score)) / (1.0 + n);
    }

    /// <summary>
    /// The smallest threshold t such that labelling heads with score &gt; t (as the atlas does) has a measured false-positive
    /// rate ≤ <paramref name="rate"/>: the (m+1)-th largest null score, m = ⌊rate·(1+n)⌋ − 1 null heads allowed above.
    /// Null when the detector has no data, or when the rate is below 1/(1+n), the least this sample can show.
    /// </summary>
    public double? ScoreAtRate(string detectorId, double rate)
    {
        if (!_entries.TryGetValue(detectorId, out var e) || e.Scores.Length == 0 || !(rate > 0)) return null;
        int n = e.Scores.Length;
        long allowed = (long)Math.Floor(rate * (1.0 + n) + 1e-9) - 1;
        if (allowed < 0) return null;
        if (allowed >= n) return e.Scores[0];
        return e.Scores[n - 1 - (int)allowed];
    }

    /// <summary>The score at quantile <paramref name="q"/> (0..1, nearest rank) of the null, or null without data.</summary>
    public double? Quantile(string detectorId, double q)
    {
        if (!_entries.TryGetValue(detectorId, out var e) || e.Scores.Length == 0) return null;
        int n = e.Scores.Length;
        int rank = Math.Clamp((int)Math.Ceiling(q * n) - 1, 0, n - 1);
        return e.Scores[rank];
    }

    /// <summary>One line: null heads, models, max, 99.9th percentile, and how the null was measured.</summary>
    public string Describe(string detectorId)
    {
        if (!_entries.TryGetValue(detectorId, out var e) || e.Scores.Length == 0) return $"{detectorId}: no null data";
        int untrained = Models.Count(m => m.Kind == "untrained"), shuffled = Models.Count(m => m.Kind == "shuffled");
        string rel = e.RelativeMax is double r ? $", max {r:0.00}× its uniform baseline" : "";
        return $"{detectorId}: {e.Scores.Length} null heads from {e.Models} models ({e.Units}); max {e.Scores[^1]:0.0000}{rel}, " +
            $"99th percentile {Quantile(detectorId, 0.99):0.0000}, 99.9th {Quantile(detectorId, 0.999):0.0000}; " +
            $"null set of {untrained} untrained + {shuffled} shuffled-pattern models, {string.Join("; ", Settings)}";
    }

    /// <summary>
    /// What a detector's threshold reason says about the null, from <see cref="Default"/>: "null FPR a/N heads of K null
    /// models ≥ t" (a = null heads scoring at least the threshold), or, for a threshold that is a multiple of the run's
    /// baseline, the largest null score in baseline units.
    /// </summary>
    public static string ThresholdNote(string detectorId, double threshold, double? baselineMultiple = null)
    {
        NullDistribution table;
        try
        {
            table = Default;
        }
        catch (HeadMinerException)
        {
            return "no measured null";
        }
        if (table.Find(detectorId) is not { Scores.Length: > 0 } e) return "no measured null";
        int n = e.Scores.Length;
        if (baselineMultiple is double k && e.RelativeMax is double r)
            return string.Create(CultureInfo.InvariantCulture, $"null: at most {r:0.00}× the baseline over {n} heads of {e.Models} null models (untrained, shuffled patterns), against {k:0.##}×");
        return string.Create(CultureInfo.InvariantCulture, $"null FPR {AtLeast(e.Scores, threshold)}/{n} heads of {e.Models} null models (untrained, shuffled patterns) ≥ {threshold:0.###}");
    }

    private static int AtLeast(double[] sorted, double score)
    {
        int lo = 0, hi = sorted.Length; // first index with sorted[i] >= score
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] < score) lo = mid + 1;
            else hi = mid;
        }
        return sorted.Length - lo;
    }

    private static double Round(double x) => (Math.Ceiling(x * 1e4 - 1e-6) / 1e4) + 0.0; // + 0.0: no negative zero

    // ---- JSON ----

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public string ToJson()
    {
        var inv = CultureInfo.InvariantCulture;
        string Str(string s) => JsonSerializer.Serialize(s, Relaxed);
        string Num(double x) => x.ToString("0.####", inv);
        var sb = new StringBuilder();
        sb.Append("{\n");
        sb.Append($"  \"schema\": {Str(SchemaName)},\n  \"version\": {CurrentVersion},\n  \"created_utc\": {Str(CreatedUtc)},\n");
        sb.Append($"  \"alpha\": {Alpha.ToString(inv)},\n");
        sb.Append("  \"settings\": [").Append(string.Join(", ", Settings.Select(Str))).Append("],\n");
        sb.Append("  \"models\": [\n");
        sb.Append(string.Join(",\n", Models.Select(m =>
            $"    {{\"name\": {Str(m.Name)}, \"kind\": {Str(m.Kind)}, \"architecture\": {Str(m.Architecture)}, \"tokenizer\": {Str(m.Tokenizer)}, " +
            $"\"layers\": {m.Layers}, \"heads\": {m.Heads}, \"kv_heads\": {m.KvHeads}, \"d_model\": {m.DModel}, " +
            $"\"std\": {(m.Std is float s ? s.ToString("0.###", inv) : "null")}, \"seed\": {m.Seed}}}")));
        sb.Append("\n  ],\n  \"detectors\": {\n");
        sb.Append(string.Join(",\n", _entries.Values.OrderBy(e => e.DetectorId, StringComparer.Ordinal).Select(e =>
            $"    {Str(e.DetectorId)}: {{\"n\": {e.Scores.Length}, \"models\": {e.Models}, \"units\": {Str(e.Units)}, " +
            $"\"thresholds\": [{string.Join(", ", e.Thresholds.Select(Num))}], " +
            $"\"relative_max\": {(e.RelativeMax is double r ? Num(r) : "null")},\n" +
            $"      \"values\": [{string.Join(",", Distinct(e.Scores).Select(x => Num(x.Value)))}],\n" +
            $"      \"counts\": [{string.Join(",", Distinct(e.Scores).Select(x => x.Count))}]}}")));
        sb.Append("\n  }\n}\n");
        return sb.ToString();
    }

    /// <summary>The sorted scores as (distinct value, how many heads) runs: the JSON stores these, not every head.</summary>
    private static List<(double Value, int Count)> Distinct(double[] sorted)
    {
        var runs = new List<(double, int)>();
        for (int i = 0; i < sorted.Length;)
        {
            int j = i;
            while (j < sorted.Length && sorted[j] == sorted[i]) j++;
            runs.Add((sorted[i], j - i));
            i = j;
        }
        return runs;
    }

    public void Write(string path) => AtomicFile.WriteAllText(path, ToJson());

    public static NullDistribution Parse(string json, string source = "null-distribution.json")
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.GetProperty("schema").GetString() != SchemaName) throw new HeadMinerException($"{source}: not a {SchemaName} file");
            int version = root.GetProperty("version").GetInt32();
            if (version != CurrentVersion) throw new HeadMinerException($"{source}: version {version}, expected {CurrentVersion}");
            var settings = root.GetProperty("settings").EnumerateArray().Select(s => s.GetString()!).ToList();
            var models = root.GetProperty("models").EnumerateArray().Select(m => new NullModelInfo(
                m.GetProperty("name").GetString()!, m.GetProperty("kind").GetString()!, m.GetProperty("architecture").GetString()!,
                m.GetProperty("tokenizer").GetString()!, m.GetProperty("layers").GetInt32(), m.GetProperty("heads").GetInt32(),
                m.GetProperty("kv_heads").GetInt32(), m.GetProperty("d_model").GetInt32(),
                m.GetProperty("std").ValueKind == JsonValueKind.Null ? null : m.GetProperty("std").GetSingle(),
                m.GetProperty("seed").GetUInt64())).ToList();
            var entries = new List<Entry>();
            foreach (var d in root.GetProperty("detectors").EnumerateObject())
            {
                var v = d.Value;
                var values = v.GetProperty("values").EnumerateArray().Select(x => x.GetDouble()).ToArray();
                var counts = v.GetProperty("counts").EnumerateArray().Select(x => x.GetInt32()).ToArray();
                if (values.Length != counts.Length) throw new FormatException($"{d.Name}: {values.Length} values but {counts.Length} counts");
                entries.Add(new Entry(d.Name,
                    [.. values.Zip(counts).SelectMany(x => Enumerable.Repeat(x.First, x.Second))],
                    v.GetProperty("models").GetInt32(), v.GetProperty("units").GetString()!,
                    [.. v.GetProperty("thresholds").EnumerateArray().Select(x => x.GetDouble())],
                    v.GetProperty("relative_max").ValueKind == JsonValueKind.Null ? null : v.GetProperty("relative_max").GetDouble()));
            }
            return new NullDistribution(entries, settings, models, root.GetProperty("created_utc").GetString()!);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new HeadMinerException($"{source}: malformed null distribution: {e.Message}");
        }
    }

    public static NullDistribution Read(string path) => Parse(File.ReadAllText(path), path);

    private static NullDistribution LoadEmbedded()
    {
        using var stream = typeof(NullDistribution).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new HeadMinerException($"embedded resource {ResourceName} is missing (run `bench calibrate`)");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), ResourceName);
    }
}
