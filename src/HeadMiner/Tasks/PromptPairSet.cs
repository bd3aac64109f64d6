using System.Text.Json;
using System.Text.Json.Serialization;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks;

/// <summary>
/// The prompt-pair file every intervention command reads and every task generator writes (schema in docs/HOOKS.md):
/// <c>{"version": 1, "task": "ioi", "description": "…", "pairs": [{"clean", "corrupted", "answer", "wrong"}, …]}</c>.
/// </summary>
public sealed record PromptPairSet
{
    public const int CurrentVersion = 1;

    [JsonPropertyName("version")] public int Version { get; init; } = CurrentVersion;
    [JsonPropertyName("task")] public string Task { get; init; } = "custom";
    [JsonPropertyName("description")] public string? Description { get; init; }
    [JsonPropertyName("pairs")] public IReadOnlyList<PromptPair> Pairs { get; init; } = [];

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new Tensors.Json.NonFiniteAsNullConverter() },
    };

    public static PromptPairSet Load(string path)
    {
        string text = PromptFileText.Read(path, "prompt-pair file");
        PromptPairSet? set;
        try
        {
            set = JsonSerializer.Deserialize<PromptPairSet>(text, Json);
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{path}: not a valid prompt-pair file ({e.Message})");
        }
        if (set is null) throw new HeadMinerException($"{path}: empty prompt-pair file");
        if (set.Version != CurrentVersion) throw new HeadMinerException($"{path}: prompt-pair file version {set.Version} is not supported (expected {CurrentVersion})");
        if (set.Pairs is null || set.Pairs.Count == 0) throw new HeadMinerException($"{path}: the file has no pairs (\"pairs\" is missing, null or empty)");
        for (int i = 0; i < set.Pairs.Count; i++)
        {
            var p = set.Pairs[i];
            if (p is null || p.Clean is null || p.Corrupted is null || p.Answer is null || p.Wrong is null)
                throw new HeadMinerException($"{path}: pair {i} lacks one of \"clean\", \"corrupted\", \"answer\", \"wrong\"");
        }
        return set;
    }

    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    /// <summary>
    /// Token ids for every pair: clean and corrupted must have the same length within a pair (position-wise
    /// patching needs it) and across pairs (one batch); answers must be single tokens; with
    /// <paramref name="contextLength"/>, prompts must fit the model's context. Every refusal names
    /// <paramref name="source"/> (the file), the pair and the field.
    /// </summary>
    public TokenizedPairs Tokenize(ITokenizer tokenizer, string source = "prompt pairs", int? contextLength = null)
    {
        var clean = new List<int[]>();
        var corrupted = new List<int[]>();
        var answers = new int[Pairs.Count];
        var wrongs = new int[Pairs.Count];
        for (int i = 0; i < Pairs.Count; i++)
        {
            var p = Pairs[i];
            var c = Encode(tokenizer, p.Clean, source, i, "clean");
            var x = Encode(tokenizer, p.Corrupted, source, i, "corrupted");
            if (c.Length != x.Length)
                throw new HeadMinerException($"{source}: pair {i}: clean prompt is {c.Length} tokens but corrupted is {x.Length}; position-wise patching needs equal lengths");
            if (c.Length == 0) throw new HeadMinerException($"{source}: pair {i}: the clean prompt has no tokens");
            if (clean.Count > 0 && c.Length != clean[0].Length)
                throw new HeadMinerException($"{source}: pair {i} is {c.Length} tokens but pair 0 is {clean[0].Length}; all pairs must have the same length");
            if (contextLength is int context && c.Length > context)
                throw new HeadMinerException($"{source}: pair {i}: the prompts are {c.Length} tokens but the model's context length is {context}; shorten them");
            answers[i] = ContinuationToken(tokenizer, c, p.Clean, p.Answer, source, i, "answer");
            wrongs[i] = ContinuationToken(tokenizer, c, p.Clean, p.Wrong, source, i, "wrong");
            clean.Add(c);
            corrupted.Add(x);
        }
        return new TokenizedPairs([.. clean], [.. corrupted], answers, wrongs);
    }

    /// <summary>Encodes one field; a tokenizer's refusal (a word outside its vocabulary) gets the file, pair and field in front.</summary>
    private static int[] Encode(ITokenizer tokenizer, string text, string source, int pair, string field, bool? addBos = null)
    {
        try
        {
            return tokenizer.Encode(text, addBos);
        }
        catch (HeadMinerException e)
        {
            throw new HeadMinerException($"{source}: pair {pair}, \"{field}\": {e.Message}", e);
        }
    }

    /// <summary>
    /// The one token <paramref name="text"/> adds after the prompt, tokenized in context (a SentencePiece tokenizer
    /// would add a dummy-prefix space to a word encoded on its own).
    /// </summary>
    public static int ContinuationToken(ITokenizer tokenizer, int[] promptIds, string prompt, string text, string source, int pair, string field)
    {
        var full = Encode(tokenizer, prompt + text, source, pair, field);
        if (full.Length == promptIds.Length + 1 && full.AsSpan(0, promptIds.Length).SequenceEqual(promptIds)) return full[^1];
        var ids = full.Length > promptIds.Length && full.AsSpan(0, promptIds.Length).SequenceEqual(promptIds)
            ? full[promptIds.Length..]
            : Encode(tokenizer, text, source, pair, field, addBos: false);
        if (ids.Length != 1)
            throw new HeadMinerException($"{source}: pair {pair}: {field} \"{text}\" is {ids.Length} tokens ({string.Join(" | ", ids.Select(tokenizer.TokenToString))}); it must be exactly one");
        return ids[0];
    }
}

/// <summary>Prompt pairs as token ids: [pairs][tokens] each, with one answer and one wrong token per pair.</summary>
public sealed record TokenizedPairs(int[][] Clean, int[][] Corrupted, int[] Answers, int[] Wrongs)
{
    public int Count => Clean.Length;
    public int Length => Clean[0].Length;

    public Models.TokenBatch CleanBatch() => new(Clean.SelectMany(r => r).ToArray(), Count, Length);
    public Models.TokenBatch CorruptedBatch() => new(Corrupted.SelectMany(r => r).ToArray(), Count, Length);
}
