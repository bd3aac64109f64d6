using System.Text;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Needle-in-a-Haystack (the retrieval-head probe): filler sentences with one needle sentence ("The secret number
/// is 47.") inserted at a depth, then a question whose answer is the needle's number. The corrupted prompt is the
/// same haystack with another number in the needle, so only the retrieved value differs. All pairs of a set share
/// one haystack (drawn from the seed) so they have one length; depths are spread evenly from 0 (start) to 1 (just
/// before the question) unless <see cref="Depth"/> fixes one. The haystack grows to <see cref="HaystackTokens"/>,
/// capped by the context length. Positions: NEEDLE (the number's token), NEEDLE_START, NEEDLE_END, END.
/// </summary>
public sealed class NeedleInHaystackSet(double? depth = null, int haystackTokens = 256) : TaskSetGenerator
{
    internal static readonly string[] Filler =
    [
        "The morning was quiet and the streets were still wet from the rain.",
        "A small boat drifted slowly along the edge of the harbour.",
        "Somebody had left a bicycle leaning against the old stone wall.",
        "The baker opened the shop early and the smell of bread filled the air.",
        "Children walked to school in pairs, talking about the weekend.",
        "In the park, an old man fed the birds from a paper bag.",
        "The clock on the tower struck nine and a bus pulled away.",
        "Clouds moved in from the west and the wind turned colder.",
        "A dog barked twice behind a fence and then fell silent.",
        "The library was busy with students reading near the windows.",
        "On the hill, the farmer was fixing a gate that had broken.",
        "A train passed in the distance, its sound fading into the trees.",
    ];

    internal static readonly string[] NumberWords =
    [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen",
        "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
    ];

    private const string Question = " Question: What is the secret number? Answer: The secret number is";

    public double? Depth { get; } = depth is null or (>= 0 and <= 1) ? depth : throw new ArgumentOutOfRangeException(nameof(depth), "depth is a fraction in [0, 1]");
    public int HaystackTokens { get; } = haystackTokens >= 16 ? haystackTokens : throw new ArgumentOutOfRangeException(nameof(haystackTokens), "a haystack needs at least 16 tokens");

    public override string Name => "needle";

    public override string Description => "Needle-in-a-Haystack: a number hidden at a depth in filler text, asked for at the end; corrupted = another number";

    protected override PromptPairSet Build(ITokenizer tokenizer, TaskSetOptions options, SeededRandom random)
    {
        TokenChecks.RequireEnglish(tokenizer, Name);
        // Two-digit numbers when the vocabulary has two; else any number 0–99 or number word it keeps whole.
        var numbers = TokenChecks.SingleWords(tokenizer, Enumerable.Range(10, 90).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (numbers.Count < 2) numbers = TokenChecks.Require(tokenizer, Name, "numbers (0–99 or one–twenty) for the needle", [.. numbers, .. Enumerable.Range(0, 10).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)), .. NumberWords], 2);
        int budget = HaystackTokens;
        if (options.ContextLength is int ctx)
        {
            int fixedPart = tokenizer.Encode(" The secret number is 10." + Question).Length + 1;
            budget = Math.Min(budget, ctx - fixedPart - 1);
            if (budget < 16)
                throw new HeadMinerException($"{Name}: a {ctx}-token context leaves {budget} tokens for the haystack; at least 16 are needed");
        }
        // One haystack for the whole set: sentences drawn until the budget is reached.
        var sentences = new List<string>();
        int tokens = 0;
        while (true)
        {
            string next = Filler[random.NextInt(Filler.Length)];
            int cost = tokenizer.Encode(" " + next, addBos: false).Length;
            if (tokens + cost > budget) break;
            sentences.Add(next);
            tokens += cost;
        }
        if (sentences.Count == 0) throw new HeadMinerException($"{Name}: no filler sentence fits a {budget}-token haystack");

        var collector = new PairCollector(tokenizer, Name, options.Count, options.ContextLength);
        for (int attempt = 0; attempt < options.Count * 20 && !collector.Full; attempt++)
        {
            double d = Depth ?? (options.Count == 1 ? 0.5 : (double)collector.Count / (options.Count - 1));
            int at = (int)Math.Round(d * sentences.Count);
            var two = TokenChecks.Draw(random, numbers, 2);
            string clean = Build(sentences, at, two[0], out int needleStart, out int numberEnd, out int needleEnd);
            string corrupted = Build(sentences, at, two[1], out _, out _, out _);
            var ids = collector.Encode(clean);
            int? start = TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, needleStart);
            int? number = TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, numberEnd);
            int? end = TokenChecks.LastTokenOfPrefix(tokenizer, ids, clean, needleEnd);
            if (number is not int n || end is not int e)
            {
                collector.Reject("the needle's tokens merge with the filler around them");
                continue;
            }
            var positions = new Dictionary<string, int>
            {
                ["NEEDLE_START"] = (start ?? -1) + 1,
                ["NEEDLE"] = n,
                ["NEEDLE_END"] = e,
                ["END"] = ids.Length - 1,
            };
            collector.TryAdd(new PromptPair(clean, corrupted, " " + two[0], " " + two[1], positions), allowDuplicates: Depth is null);
        }
        return collector.Finish($"Needle-in-a-Haystack, {options.Count} pairs, one haystack of {sentences.Count} filler sentences ({tokens} tokens), depth {(Depth is double f ? f.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) : "spread 0–1")}; corrupted = another number");
    }

    private static string Build(List<string> sentences, int at, string number, out int needleStart, out int numberEnd, out int needleEnd)
    {
        var sb = new StringBuilder();
        needleStart = numberEnd = needleEnd = 0;
        for (int i = 0; i <= sentences.Count; i++)
        {
            if (i == at)
            {
                needleStart = sb.Length;
                sb.Append(i == 0 ? "The secret number is " : " The secret number is ").Append(number);
                numberEnd = sb.Length;
                sb.Append('.');
                needleEnd = sb.Length;
            }
            if (i < sentences.Count) sb.Append(i == 0 && at != 0 ? "" : " ").Append(sentences[i]);
        }
        return sb.Append(Question).ToString();
    }
}
