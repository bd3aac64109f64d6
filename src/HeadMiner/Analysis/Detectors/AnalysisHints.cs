using System.Text.Json;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Optional analysis settings a model directory declares in <c>headminer.json</c>, written by whoever trained the
/// model: <c>{"prompt_tokens": [[first, last], …], "prompt_tokens_note": "…"}</c> — inclusive id ranges that random-token
/// prompts should draw from (<see cref="DetectorOptions.PromptTokens"/>). Absent file: no hints.
/// </summary>
public sealed record AnalysisHints(IReadOnlyList<(int First, int Last)> PromptTokenRanges, string? Note)
{
    public const string FileName = "headminer.json";

    public IReadOnlySet<int> PromptTokens() => PromptTokenRanges.SelectMany(r => Enumerable.Range(r.First, r.Last - r.First + 1)).ToHashSet();

    /// <summary>The hints of the model at <paramref name="modelPath"/> (a directory, or a file inside one), or null.</summary>
    public static AnalysisHints? Load(string modelPath, int vocabSize)
    {
        string directory = Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".";
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            var ranges = new List<(int, int)>();
            if (root.TryGetProperty("prompt_tokens", out var list))
            {
                foreach (var range in list.EnumerateArray())
                {
                    if (range.GetArrayLength() != 2) throw new HeadMinerException($"{path}: each prompt_tokens range must be [first, last]");
                    int first = range[0].GetInt32(), last = range[1].GetInt32();
                    if (first < 0 || last < first || last >= vocabSize)
                        throw new HeadMinerException($"{path}: prompt_tokens range [{first}, {last}] is not inside the vocabulary [0, {vocabSize})");
                    ranges.Add((first, last));
                }
            }
            string? note = root.TryGetProperty("prompt_tokens_note", out var n) ? n.GetString() : null;
            return new AnalysisHints(ranges, note);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new HeadMinerException($"{path}: malformed analysis hints: {e.Message}", e);
        }
    }

    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["prompt_tokens"] = PromptTokenRanges.Select(r => new[] { r.First, r.Last }).ToArray(),
        ["prompt_tokens_note"] = Note,
    }, new JsonSerializerOptions { WriteIndented = true });
}
