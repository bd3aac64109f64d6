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
/// The vocabulary is word level with some words in pieces: the toy language's tokens, then
/// <see cref="ToyEnglishWords.Words"/> (every word the task sets and the detectors' sample text need; 53 of them only as
/// WordPiece pieces, "harbour" → "harb" "##our", so word-continuation tokens exist). Punctuation is its own token and a four-digit year is two
/// ("1732" → "17" "32", as GPT-2 spells it), by one Split pattern after the whitespace split (<see cref="IsolatePattern"/>),
/// so the task sets build from this vocabulary unchanged: the same generators, with this tokenizer.
/// <para>
/// A sequence is &lt;bos&gt; then spans separated by &lt;sep&gt;; a span is a task prompt + answer with probability
/// <see cref="ToyEnglishOptions.TaskShare"/> (task drawn by <see cref="ToyEnglishOptions.TaskWeights"/>), else a toy-language span. A task span that does not
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
        ("acronym", PredictionKind.Acronym),
    ];

    private readonly TaskExample[][] _pools;
    private readonly double[] _taskCumulative;
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
        _taskCumulative = CumulativeWeights(Options.TaskWeights);
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
            source: "toy English", isolate: new PreTokenizerPattern(IsolatePattern, "toy English"))
        {
            ContinuingSubwordPrefix = ContinuingSubwordPrefix,
            DecodesContinuations = true,
        };
    }

    /// <summary>WordPiece's mark of a piece that continues a word (<see cref="ToyEnglishWords"/>' "##our" of "harb" "##our").</summary>
    public const string ContinuingSubwordPrefix = "##";

    /// <summary>
    /// The tokenizer as a Hugging Face tokenizer.json: the toy language's, with the Split after WhitespaceSplit, and
    /// a WordPiece model ("##" pieces; a word no pieces spell is refused, its unk_token &lt;unk&gt; not being in the
    /// vocabulary) with its decoder, cleanup off.
    /// </summary>
    public string TokenizerJson()
    {
        var root = JsonNode.Parse(ToyTokenizer.Json(Vocabulary))!.AsObject();
        var model = root["model"]!.AsObject();
        model["type"] = "WordPiece";
        model["continuing_subword_prefix"] = ContinuingSubwordPrefix;
        model["max_input_chars_per_word"] = 100;
        root["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = ContinuingSubwordPrefix, ["cleanup"] = false };
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

    /// <summary>A prompt and its answers; with several, <paramref name="Cumulative"/> holds the running sums of their probabilities.</summary>
    private sealed record TaskExample(int[] Prompt, int[] Answers, double[]? Cumulative);

    /// <summary>
    /// Training examples of one task: the clean prompts of sets generated from consecutive seeds (8 pairs each, so the
    /// sets' own variation — ABBA/BABA, the right letter, needle depths — is kept). Greater-Than keeps its whole
    /// answer set (a span ends in any later year, YY + k with probability ∝ 1/k: most spans are short, as in real text,
    /// see <see cref="ToyEnglishOptions.NearYears"/>); the others their one answer. The needle draws haystacks of
    /// 20, 32 and 64 tokens as well as the atlas's full one, so retrieval is trained at every distance (20, not 16: with
    /// words in pieces a filler sentence is up to 17 tokens, and the haystack holds at least one).
    /// </summary>
    private TaskExample[] BuildPool(string task)
    {
        var generators = task == "needle"
            ? new TaskSetGenerator[] { new NeedleInHaystackSet(haystackTokens: 20), new NeedleInHaystackSet(haystackTokens: 32), new NeedleInHaystackSet(haystackTokens: 64), Generator(task) }
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
                    if (pair.AnswerSet is null)
                    {
                        pool.Add(new TaskExample(prompt, [Tokenizer.Encode(pair.Answer, addBos: false).Single()], null));
                        continue;
                    }
                    // Nearest year first: the k-th answer weighs 1/k (NearYears) or 1 (uniform).
                    var years = pair.AnswerSet.OrderBy(a => int.Parse(a, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                    var weights = years.Select((_, k) => Options.NearYears ? 1.0 / (k + 1) : 1.0).ToArray();
                    double total = weights.Sum(), sum = 0;
                    pool.Add(new TaskExample(prompt, [.. years.Select(a => Tokenizer.Encode(a, addBos: false).Single())], [.. weights.Select(w => (sum += w) / total)]));
                }
            }
        }
        return [.. pool];
    }

    /// <summary>Running sums of the task weights (a task absent from the weights weighs 1), normalised to end at 1.</summary>
    private static double[] CumulativeWeights(IReadOnlyDictionary<string, double> weights)
    {
        foreach (var name in weights.Keys)
            if (!Tasks.Any(t => t.Name == name)) throw new ArgumentException($"task weight for unknown task \"{name}\"; tasks: {string.Join(", ", Tasks.Select(t => t.Name))}");
        var w = Tasks.Select(t => weights.GetValueOrDefault(t.Name, 1.0)).ToArray();
        if (w.Any(x => !(x >= 0 && double.IsFinite(x))) || w.Sum() <= 0) throw new ArgumentException("task weights must be finite, non-negative and not all zero");
        var cumulative = new double[w.Length];
        double sum = 0, total = w.Sum();
        for (int i = 0; i < w.Length; i++) cumulative[i] = (sum += w[i]) / total;
        return cumulative;
    }

    /// <summary>The first index whose running sum exceeds <paramref name="u"/> ∈ [0, 1).</summary>
    private static int Draw(double[] cumulative, double u)
    {
        for (int i = 0; i < cumulative.Length - 1; i++)
            if (u < cumulative[i]) return i;
        return cumulative.Length - 1;
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
                int t = Draw(_taskCumulative, random.NextDouble());
                var pool = _pools[t];
                var example = pool[random.NextInt(pool.Length)];
                int answer = example.Answers[example.Cumulative is { } c ? Draw(c, random.NextDouble()) : 0];
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
    /// Held-out accuracy per task (<see cref="TaskAccuracy"/>) on the task sets with seed 0, as the atlas builds them
    /// (the needle with its full haystack). Keys "acc_ioi", "acc_greater_than", ….
    /// </summary>
    public override IReadOnlyDictionary<string, double>? HeldOutMetrics(Transformer model) =>
        _heldOut.Value.ToDictionary(x => "acc_" + x.Name, x => TaskAccuracy(model, Tokenizer, x.Set));

    /// <summary>
    /// The share of a set's clean prompts the model answers: its top-1 next token is the answer. Greater-Than has no
    /// one answer, and a model that only learned "late years are likely" puts its top-1 on a year after YY for almost
    /// every prompt without comparing anything, so there it is the share of prompts where seeing YY at least halves
    /// the probability on the years up to YY compared with the corrupted prompt (start year 01): a model blind to
    /// YY scores 0, a perfect one 1.
    /// </summary>
    public static double TaskAccuracy(Transformer model, ITokenizer tokenizer, PromptPairSet set)
    {
        var pairs = set.Pairs;
        int[][] cleanIds = [.. pairs.Select(p => tokenizer.Encode(p.Clean))];
        var clean = LastPositionProbabilities(model, cleanIds);
        // Answers as the token they add after the prompt (a SentencePiece tokenizer spells " 5" alone as two pieces).
        int Next(int i, string text, string field) => PromptPairSet.ContinuationToken(tokenizer, cleanIds[i], pairs[i].Clean, text, set.Task, i, field);
        bool comparison = pairs[0].WrongSet is not null;
        var corrupted = comparison ? LastPositionProbabilities(model, [.. pairs.Select(p => tokenizer.Encode(p.Corrupted))]) : null;
        int correct = 0;
        for (int i = 0; i < pairs.Count; i++)
        {
            if (comparison)
            {
                var wrong = pairs[i].WrongSet!.Select(w => Next(i, w, "wrong_set")).ToArray();
                double seen = wrong.Sum(id => clean[i][id]), blind = wrong.Sum(id => corrupted![i][id]);
                if (seen <= 0.5 * blind) correct++;
                continue;
            }
            int best = 0;
            for (int j = 1; j < clean[i].Length; j++)
                if (clean[i][j] > clean[i][best]) best = j;
            if (best == Next(i, pairs[i].Answer, "answer")) correct++;
        }
        return (double)correct / pairs.Count;
    }

    /// <summary>Softmax of the last position's logits for each prompt (prompts of one length run as one batch).</summary>
    private static float[][] LastPositionProbabilities(Transformer model, int[][] prompts)
    {
        int v = model.Config.VocabSize;
        var result = new float[prompts.Length][];
        foreach (var group in Enumerable.Range(0, prompts.Length).GroupBy(i => prompts[i].Length))
        {
            var index = group.ToArray();
            int t = group.Key;
            var logits = model.Forward(new TokenBatch([.. index.SelectMany(i => prompts[i])], index.Length, t)).ToArray();
            for (int k = 0; k < index.Length; k++)
            {
                var row = logits.AsSpan((k * t + t - 1) * v, v).ToArray();
                float max = row.Max();
                double z = 0;
                for (int j = 0; j < v; j++) z += Math.Exp(row[j] - max);
                for (int j = 0; j < v; j++) row[j] = (float)(Math.Exp(row[j] - max) / z);
                result[index[k]] = row;
            }
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
    public double TaskShare { get; init; } = 0.6;

    /// <summary>
    /// Relative weight of each task among task spans (a task not named weighs 1). The embedded model's: Greater-Than
    /// and MCQA 3, IOI 2, yes/no 1.5, the needle 1, acronyms and successor ½. The first run (uniform, task share ½,
    /// 5,000 steps) learned IOI, the needle, successor and yes/no but not Greater-Than's comparison or MCQA; a second
    /// (GT and MCQA 3, acronyms 1.5, successor ½, the rest 1, 8,000 steps) learned MCQA and acronyms but left IOI and
    /// yes/no behind; acronyms and successor runs are learned within 2,000 steps and need few examples.
    /// </summary>
    public IReadOnlyDictionary<string, double> TaskWeights { get; init; } = new Dictionary<string, double>
    {
        ["ioi"] = 2,
        ["greater_than"] = 3,
        ["mcqa"] = 3,
        ["yes_no"] = 1.5,
        ["acronym"] = 0.5,
        ["successor"] = 0.5,
    };

    /// <summary>
    /// Greater-Than's answer is year YY + k with probability ∝ 1/k (most spans are short), not uniform over the later
    /// years: with uniform answers the loss of a model that knows YY is only a few tenths of a nat below one that
    /// ignores it, and the first run (5,000 steps, uniform) did not learn the comparison.
    /// </summary>
    public bool NearYears { get; init; } = true;

    /// <summary>Sets of 8 prompts generated per task for training (the needle's split over its four haystack sizes).</summary>
    public int PoolSets { get; init; } = 256;

    /// <summary>The first task-set seed of the training pool (far from the seeds 0–31 the atlas and tests use).</summary>
    public ulong PoolSeed { get; init; } = 1_000_000;

    /// <summary>The model's context: task sets whose prompts grow (the needle) stay within it.</summary>
    public int ContextLength { get; init; } = 128;

    /// <summary>Prompts per task in the held-out accuracy.</summary>
    public int HeldOutCount { get; init; } = 32;
}
