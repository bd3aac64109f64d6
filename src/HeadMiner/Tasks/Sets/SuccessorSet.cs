using System.Globalization;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Successor sequences (the successor-head probe): a run of consecutive items of an ordered list — numbers, number
/// words, days, months, letters, each also abbreviated — whose next item is the answer (" Monday Tuesday Wednesday
/// Thursday" → " Friday"). The corrupted prompt is a run of the same list from another start, so its next item (the
/// wrong answer) differs. The tokenizer's vocabulary decides which lists take part: an item counts when it is one
/// token with a leading space after the item before it; a cyclic list (days, months) needs every item, an open one
/// (numbers, letters) its longest run of consecutive single-token items, at least <see cref="RunLength"/> + 2 long.
/// Days and months wrap around.
/// </summary>
public sealed class SuccessorSet(int runLength = 4) : TaskSetGenerator
{
    private static readonly (string Name, bool Cyclic, string[] Items)[] Lists =
    [
        ("numbers", false, [.. Enumerable.Range(0, 100).Select(i => i.ToString(CultureInfo.InvariantCulture))]),
        ("number words", false, ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]),
        ("days", true, ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]),
        ("day abbreviations", true, ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
        ("months", true, ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]),
        ("month abbreviations", true, ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]),
        ("letters", false, [.. Enumerable.Range('A', 26).Select(c => ((char)c).ToString())]),
        ("lowercase letters", false, [.. Enumerable.Range('a', 26).Select(c => ((char)c).ToString())]),
    ];

    /// <summary>The items of the named lists (for vocabularies built to spell the set, e.g. planted models).</summary>
    internal static IEnumerable<string> AllItems => Lists.SelectMany(l => l.Items);

    internal static IEnumerable<string> Items(params string[] lists) => Lists.Where(l => lists.Contains(l.Name)).SelectMany(l => l.Items);

    public int RunLength { get; } = runLength >= 2 ? runLength : throw new ArgumentOutOfRangeException(nameof(runLength), "a run needs at least 2 items");

    public override string Name => "successor";

    public override string Description => "Successor sequences: numbers, number words, days, months, letters (the lists the vocabulary keeps whole); corrupted = a run from another start";

    protected override PromptPairSet Build(ITokenizer tokenizer, TaskSetOptions options, SeededRandom random)
    {
        var usable = new List<(string Name, bool Cyclic, string[] Items)>();
        var found = new List<string>();
        foreach (var (name, cyclic, items) in Lists)
        {
            // Item i is kept when " item" is one token after the item before it (how it stands in a run).
            var single = items.Select((item, i) => TokenChecks.SingleTokenAfter(tokenizer, items[i == 0 ? (cyclic ? items.Length - 1 : 1) : i - 1], " " + item) is not null).ToArray();
            var (start, length) = LongestRun(single);
            found.Add($"{name} {single.Count(x => x)}/{items.Length}{(length > 0 && length < items.Length ? $" (longest run {items[start]}–{items[start + length - 1]})" : "")}");
            if (cyclic ? length == items.Length : length >= RunLength + 2) usable.Add((name, cyclic, items[start..(start + length)]));
        }
        if (usable.Count == 0)
            throw new HeadMinerException($"{Name} needs an ordered list with {RunLength + 2} consecutive single-token items (or a whole week or year); found in this vocabulary: {string.Join("; ", found)}");

        // A short list has few distinct (start, other start) pairs: past that many, pairs repeat (said in the description).
        int distinct = usable.Sum(u => u.Cyclic ? u.Items.Length * (u.Items.Length - 1) : (u.Items.Length - RunLength) * (u.Items.Length - RunLength - 1));
        bool repeats = options.Count > distinct;
        var collector = new PairCollector(tokenizer, Name, options.Count, options.ContextLength);
        for (int attempt = 0; attempt < options.Count * 20 && !collector.Full; attempt++)
        {
            var (_, cyclic, items) = usable[collector.Count % usable.Count];
            int starts = cyclic ? items.Length : items.Length - RunLength;
            int a = random.NextInt(starts), b = random.NextInt(starts);
            if (a == b) continue;
            string clean = Run(items, a), corrupted = Run(items, b);
            if (collector.Encode(clean[1..]).Length == collector.Encode(clean).Length - 1)
            {
                // A SentencePiece tokenizer adds its own space before the first item: drop ours.
                (clean, corrupted) = (clean[1..], corrupted[1..]);
            }
            collector.TryAdd(new PromptPair(clean, corrupted, " " + Item(items, a + RunLength), " " + Item(items, b + RunLength)), allowDuplicates: repeats);
        }
        return collector.Finish($"Successor sequences, {options.Count} pairs of {RunLength}-item runs from: {string.Join(", ", usable.Select(u => $"{u.Name} ({u.Items.Length})"))}{(repeats ? $"; only {distinct} distinct pairs exist, so pairs repeat" : "")}");
    }

    private static (int Start, int Length) LongestRun(bool[] ok)
    {
        int bestStart = 0, best = 0;
        for (int i = 0; i < ok.Length;)
        {
            if (!ok[i])
            {
                i++;
                continue;
            }
            int j = i;
            while (j < ok.Length && ok[j]) j++;
            if (j - i > best) (bestStart, best) = (i, j - i);
            i = j;
        }
        return (bestStart, best);
    }

    private string Run(string[] items, int start) => string.Concat(Enumerable.Range(start, RunLength).Select(i => " " + Item(items, i)));

    private static string Item(string[] items, int i) => items[i % items.Length];
}
