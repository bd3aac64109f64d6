using System.Text.Json;
using System.Text.Json.Nodes;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks.Sets;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// The toy English the embedded default model is trained on: the toy language (<see cref="ToyLanguage"/>: text,
/// repeated segments, Markov chains, counting — ids 0–348 unchanged) mixed with the prompts of every task set the
/// atlas uses (<see cref="Tasks"/>: IOI, Greater-Than, needle, successor, MCQA, yes/no), each followed by its answer.
/// The vocabulary is word level: the toy language's tokens, then <see cref="ToyEnglishWords.Words"/> (every word the
/// task sets and the detectors' sample text need). Punctuation is its own token and a four-digit year is two
/// ("1732" → "17" "32", as GPT-2 spells it), by one Split pattern after the whitespace split (<see cref="IsolatePattern"/>),
/// so the task sets build from this vocabulary unchanged: the same generators, with this tokenizer.
/// <para>
/// A sequence is &lt;bos&gt; then spans separated by &lt;sep&gt;; a span is a task prompt + answer with probability
/// <see cref="ToyEnglishOptions.TaskShare"/> (task drawn uniformly), else a toy-language span. A task span that does not
/// fit the rest of the sequence becomes a toy-language span (cut to fit), so answers are never cut off. Task prompts
/// come from a pool generated once from seeds at <see cref="ToyEnglishOptions.PoolSeed"/> and up; the atlas and the
/// held-out accuracy use the generators' seeds 0–2, so their prompts are drawn from other streams (a prompt may still
/// coincide with a training one where a task has few distinct prompts, e.g. successor runs).
/// </para>
/// </summary>
public sealed class ToyEnglish : SequenceGenerator
{
    /// <summary>
    /// Isolates punctuation and splits a four-digit number into two two-digit tokens (not "w17" or "47": only a whole
    /// word of four digits, optionally followed by punctuation, is a year).
    /// </summary>
    public const string IsolatePattern = @"[.,:;?!]|^\d\d(?=\d\d[.,:;?!]*$)";

    /// <summary>The task sets a span can come from, the kind its answer is labelled with, and a short name.</summary>
    public static IReadOnlyList<(string Name, PredictionKind Kind)> Tasks { get; } =
    [
        ("ioi", PredictionKind.Ioi),
        ("greater_than", PredictionKind.GreaterThan),
        ("needle", PredictionKind.Needle),
        ("successor", PredictionKind.Successor),
        ("mcqa", PredictionKind.Mcqa),
        ("yes_no", PredictionKind.YesNo),
    ];

    private readonly TaskExample[][] _pools;
    private readonly Lazy<(string Name, PromptPairSet Set)[]> _heldOut;

    public ToyEnglishOptions Options { get; }
    public ToyLanguage Toy { get; }
    public WordLevelTokenizer Tokenizer { get; }

    /// <summary>Token text by id: the toy language's, then the English words.</summary>
    public IReadOnlyList<string> Vocabulary { get; }

    public int Size => Vocabulary.Count;

    public ToyEnglish(ToyEnglishOptions? options = null)
    {
        Options = options ?? new ToyEnglishOptions();
        if (!(Options.TaskShare >= 0 && Options.TaskShare <= 1)) throw new ArgumentException($"the task share {Options.TaskShare} is not in [0, 1]");
        Toy = new ToyLanguage(Options.Language);
        Vocabulary = Words(Options.Language);
        Tokenizer = CreateTokenizer(Vocabulary);
        _pools = [.. Tasks.Select(t => BuildPool(t.Name))];
        _heldOut = new(() => [.. Tasks.Select(t => (t.Name, Generator(t.Name).Generate(Tokenizer, new TaskSetOptions { Count = Options.HeldOutCount, Seed = 0, ContextLength = Options.ContextLength })))]);
    }

    public override int MinLength => 2;

    /// <summary>The vocabulary for a toy language: its tokens, then the English words it does not already have.</summary>
    public static IReadOnlyList<string> Words(ToyLanguageOptions language)
    {
        var toy = new ToyVocabulary(language.WordCount, language.MarkovStateCount, language.NumberCount);
        var words = Enumerable.Range(0, toy.Size).Select(toy.TokenToString).ToList();
        var seen = new HashSet<string>(words, StringComparer.Ordinal);
        foreach (string w in ToyEnglishWords.Words)
            if (seen.Add(w)) words.Add(w);
        return words;
    }

    /// <summary>The task-set generator of the named task, as the atlas builds it (needle: the default haystack, capped by the context).</summary>
    public static TaskSetGenerator Generator(string task) => TaskSets.Find(task) ?? throw new ArgumentException($"unknown task {task}");

    internal static WordLevelTokenizer CreateTokenizer(IReadOnlyList<string> words)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < words.Count; id++)
        {
            vocab[words[id]] = id;
            if (id <= ToyVocabulary.Pad) specials[words[id]] = id;
        }
        return new WordLevelTokenizer(vocab, specials, ToyVocabulary.Bos, ToyVocabulary.Eos, addsBosByDefault: true,
            source: "toy English", isolate: new PreTokenizerPattern(IsolatePattern, "toy English"));
    }

    /// <summary>The tokenizer as a Hugging Face tokenizer.json: the toy language's, with the Split after WhitespaceSplit.</summary>
    public string TokenizerJson()
    {
        var root = JsonNode.Parse(ToyTokenizer.Json(Vocabulary))!.AsObject();
        root["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject { ["type"] = "WhitespaceSplit" },
                new JsonObject
                {
                    ["type"] = "Split",
                    ["pattern"] = new JsonObject { ["Regex"] = IsolatePattern },
                    ["behavior"] = "Isolated",
                    ["invert"] = false,
                }),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private sealed record TaskExample(int[] Prompt, int[] Answers);

    /// <summary>
    /// Training examples of one task: the clean prompts of sets generated from consecutive seeds (8 pairs each, so the
    /// sets' own variation — ABBA/BABA, the right letter, needle depths — is kept). Greater-Than keeps its whole
    /// answer set (a span ends in any later year); the others their one answer. The needle draws haystacks of
    /// 16, 32 and 64 tokens as well as the atlas's full one, so retrieval is trained at every distance.
    /// </summary>
    private TaskExample[] BuildPool(string task)
    {
        var generators = task == "needle"
            ? new TaskSetGenerator[] { new NeedleInHaystackSet(haystackTokens: 16), new NeedleInHaystackSet(haystackTokens: 32), new NeedleInHaystackSet(haystackTokens: 64), Generator(task) }
            : [Generator(task)];
        var pool = new List<TaskExample>();
        int perGenerator = Options.PoolSets / generators.Length;
        for (int g = 0; g < generators.Length; g++)
        {
            for (int k = 0; k < perGenerator; k++)
            {
                var set = generators[g].Generate(Tokenizer, new TaskSetOptions { Count = 8, Seed = Options.PoolSeed + (ulong)(g * perGenerator + k), ContextLength = Options.ContextLength });
                foreach (var pair in set.Pairs)
                {
                    var prompt = Tokenizer.Encode(pair.Clean, addBos: false);
                    var answers = (pair.AnswerSet ?? [pair.Answer]).Select(a => Tokenizer.Encode(a, addBos: false).Single()).ToArray();
                    pool.Add(new TaskExample(prompt, answers));
                }
            }
        }
        return [.. pool];
    }

    public override ComponentSpan[] Fill(SeededRandom random, Span<int> tokens, Span<PredictionKind> labels)
    {
        var spans = new List<ComponentSpan>();
        tokens[0] = ToyVocabulary.Bos;
        labels[0] = PredictionKind.Special;
        int position = 1;
        while (position < tokens.Length)
        {
            if (spans.Count > 0)
            {
                tokens[position] = ToyVocabulary.Separator;
                labels[position] = PredictionKind.Special;
                if (++position == tokens.Length) break;
            }
            if (random.NextDouble() < Options.TaskShare)
            {
                int t = random.NextInt(Tasks.Count);
                var pool = _pools[t];
                var example = pool[random.NextInt(pool.Length)];
                int answer = example.Answers[random.NextInt(example.Answers.Length)];
                int length = example.Prompt.Length + 1;
                if (length <= tokens.Length - position)
                {
                    example.Prompt.CopyTo(tokens[position..]);
                    tokens[position + length - 1] = answer;
                    labels.Slice(position, length - 1).Fill(PredictionKind.Prompt);
                    labels[position + length - 1] = Tasks[t].Kind;
                    spans.Add(new ComponentSpan(SyntheticComponent.Task, position, length));
                    position += length;
                    continue;
                }
            }
            var (component, n) = Toy.FillRandomSpan(random, tokens[position..], labels[position..]);
            spans.Add(new ComponentSpan(component, position, n));
            position += n;
        }
        return [.. spans];
    }

    /// <summary>
    /// Held-out accuracy per task: on the clean prompts of each task set with seed 0 (what the atlas runs, with the
    /// needle's full haystack), the share whose top-1 next token is the answer — for Greater-Than, any year in the
    /// answer set. Keys "acc_ioi", "acc_greater_than", ….
    /// </summary>
    public override IReadOnlyDictionary<string, double>? HeldOutMetrics(Transformer model)
    {
        var result = new Dictionary<string, double>();
        int v = model.Config.VocabSize;
        foreach (var (name, set) in _heldOut.Value)
        {
            var prompts = set.Pairs.Select(p => Tokenizer.Encode(p.Clean)).ToArray();
            int n = prompts.Length, t = prompts[0].Length;
            var logits = model.Forward(new TokenBatch([.. prompts.SelectMany(p => p)], n, t)).ToArray();
            int correct = 0;
            for (int i = 0; i < n; i++)
            {
                var row = logits.AsSpan(((i * t) + t - 1) * v, v);
                int best = 0;
                for (int j = 1; j < v; j++)
                    if (row[j] > row[best]) best = j;
                var pair = set.Pairs[i];
                var right = (pair.AnswerSet ?? [pair.Answer]).Select(a => Tokenizer.Encode(a, addBos: false).Single());
                if (right.Contains(best)) correct++;
            }
            result["acc_" + name] = (double)correct / n;
        }
        return result;
    }
}

/// <summary>The toy English's knobs (defaults: the embedded model's).</summary>
public sealed record ToyEnglishOptions
{
    /// <summary>The toy language mixed in (the embedded model's: half of its spans repeated segments).</summary>
    public ToyLanguageOptions Language { get; init; } = new() { RepeatedSegmentsFraction = 0.5 };

    /// <summary>The probability that a span is a task prompt (else a toy-language span).</summary>
    public double TaskShare { get; init; } = 0.5;

    /// <summary>Sets of 8 prompts generated per task for training (the needle's split over its four haystack sizes).</summary>
    public int PoolSets { get; init; } = 256;

    /// <summary>The first task-set seed of the training pool (far from the seeds 0–31 the atlas and tests use).</summary>
    public ulong PoolSeed { get; init; } = 1_000_000;

    /// <summary>The model's context: task sets whose prompts grow (the needle) stay within it.</summary>
    public int ContextLength { get; init; } = 128;

    /// <summary>Prompts per task in the held-out accuracy.</summary>
    public int HeldOutCount { get; init; } = 32;
}
