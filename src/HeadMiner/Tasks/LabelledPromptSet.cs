using System.Text.Json;
using System.Text.Json.Serialization;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tasks;

/// <summary>One prompt with a binary label (1 = the property holds, 0 = it does not).</summary>
public sealed record LabelledPrompt(
    [property: JsonPropertyName("prompt")] string Prompt,
    [property: JsonPropertyName("label")] int Label);

/// <summary>
/// The probing data file: <c>{"version": 1, "task": "…", "examples": [{"prompt": "…", "label": 0|1}, …]}</c>.
/// A prompt-pair file (<see cref="PromptPairSet"/>) is accepted too: each clean prompt is label 1, each corrupted 0.
/// Prompts may differ in length (they are left-padded into one batch).
/// </summary>
public sealed record LabelledPromptSet
{
    [JsonPropertyName("version")] public int Version { get; init; } = PromptPairSet.CurrentVersion;
    [JsonPropertyName("task")] public string Task { get; init; } = "custom";
    [JsonPropertyName("examples")] public IReadOnlyList<LabelledPrompt> Examples { get; init; } = [];

    public static LabelledPromptSet Load(string path)
    {
        string text = PromptFileText.Read(path, "labelled prompt file");
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(text);
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{path}: not valid JSON ({e.Message})");
        }
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("pairs", out _))
        {
            var pairs = PromptPairSet.Load(path);
            return new LabelledPromptSet
            {
                Task = pairs.Task,
                Examples = [.. pairs.Pairs.SelectMany(p => new[] { new LabelledPrompt(p.Clean, 1), new LabelledPrompt(p.Corrupted, 0) })],
            };
        }
        LabelledPromptSet? set;
        try
        {
            set = root.Deserialize<LabelledPromptSet>();
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{path}: not a valid labelled prompt file ({e.Message})");
        }
        if (set is null || set.Examples is null || set.Examples.Count == 0) throw new HeadMinerException($"{path}: the file has no \"examples\" (nor \"pairs\")");
        if (set.Version != PromptPairSet.CurrentVersion) throw new HeadMinerException($"{path}: version {set.Version} is not supported (expected {PromptPairSet.CurrentVersion})");
        for (int i = 0; i < set.Examples.Count; i++)
        {
            var e = set.Examples[i];
            if (e is null || e.Prompt is null) throw new HeadMinerException($"{path}: example {i} lacks \"prompt\"");
            if (e.Label is not (0 or 1)) throw new HeadMinerException($"{path}: example {i} has label {e.Label}; labels are 0 or 1");
        }
        return set;
    }

    /// <summary>
    /// Token ids of every example; with <paramref name="contextLength"/>, each must fit the model's context. Every
    /// refusal names <paramref name="source"/> (the file) and the example.
    /// </summary>
    public (int[][] Tokens, int[] Labels) Tokenize(ITokenizer tokenizer, string source = "labelled prompts", int? contextLength = null)
    {
        var tokens = new int[Examples.Count][];
        for (int i = 0; i < tokens.Length; i++)
        {
            try
            {
                tokens[i] = tokenizer.Encode(Examples[i].Prompt);
            }
            catch (HeadMinerException e)
            {
                throw new HeadMinerException($"{source}: example {i}: {e.Message}", e);
            }
            if (tokens[i].Length == 0) throw new HeadMinerException($"{source}: example {i} has no tokens");
            if (contextLength is int context && tokens[i].Length > context)
                throw new HeadMinerException($"{source}: example {i} is {tokens[i].Length} tokens but the model's context length is {context}; shorten it");
        }
        return (tokens, [.. Examples.Select(e => e.Label)]);
    }
}
