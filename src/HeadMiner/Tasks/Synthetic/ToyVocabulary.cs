namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// The toy language's token ids, in consecutive ranges:
/// <code>
///   0            &lt;bos&gt;   starts every sequence
///   1            &lt;eos&gt;   reserved for generation; training sequences are fixed-length windows and never hold it
///   2            &lt;sep&gt;   between two spans
///   3            &lt;pad&gt;   reserved for batching prompts of unequal length
///   words        w0 … w{W−1}       (w0 most frequent)
///   markov       m0 … m{M−1}       Markov-chain states
///   numbers      n0 … n{N−1}       counting, not cyclic
///   days         Mon … Sun         counting, cyclic
///   months       Jan … Dec         counting, cyclic
///   letters      A … Z             counting, not cyclic
/// </code>
/// With the defaults (192 words, 8 states, 100 numbers) that is 349 ids.
/// </summary>
public sealed class ToyVocabulary
{
    public const int Bos = 0, Eos = 1, Separator = 2, Pad = 3;
    private const int SpecialCount = 4;

    private static readonly string[] SpecialNames = ["<bos>", "<eos>", "<sep>", "<pad>"];
    private static readonly string[] DayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    private static readonly string[] MonthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    public int FirstWord { get; }
    public int WordCount { get; }
    public int FirstMarkovState { get; }
    public int MarkovStateCount { get; }
    public OrderedList Numbers { get; }
    public OrderedList Days { get; }
    public OrderedList Months { get; }
    public OrderedList Letters { get; }
    public int Size { get; }

    public ToyVocabulary(int wordCount = 192, int markovStateCount = 8, int numberCount = 100)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(wordCount, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(markovStateCount, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(numberCount, 2);
        FirstWord = SpecialCount;
        WordCount = wordCount;
        FirstMarkovState = FirstWord + wordCount;
        MarkovStateCount = markovStateCount;
        Numbers = new OrderedList("numbers", FirstMarkovState + markovStateCount, numberCount, Cyclic: false);
        Days = new OrderedList("days", Numbers.FirstId + Numbers.Count, DayNames.Length, Cyclic: true);
        Months = new OrderedList("months", Days.FirstId + Days.Count, MonthNames.Length, Cyclic: true);
        Letters = new OrderedList("letters", Months.FirstId + Months.Count, 26, Cyclic: false);
        Size = Letters.FirstId + Letters.Count;
        OrderedLists = [Numbers, Days, Months, Letters];
    }

    /// <summary>Numbers, days, months, letters, in id order.</summary>
    public IReadOnlyList<OrderedList> OrderedLists { get; }

    public bool IsWord(int id) => id >= FirstWord && id < FirstWord + WordCount;
    public bool IsMarkovState(int id) => id >= FirstMarkovState && id < FirstMarkovState + MarkovStateCount;

    /// <summary>A short readable name: "&lt;bos&gt;", "w17", "m3", "n5", "Mon", "Jan", "A".</summary>
    public string TokenToString(int id)
    {
        if (id < 0 || id >= Size) throw new ArgumentOutOfRangeException(nameof(id), $"{id} is outside the toy vocabulary [0, {Size})");
        if (id < SpecialCount) return SpecialNames[id];
        if (IsWord(id)) return $"w{id - FirstWord}";
        if (IsMarkovState(id)) return $"m{id - FirstMarkovState}";
        if (Numbers.Contains(id)) return $"n{id - Numbers.FirstId}";
        if (Days.Contains(id)) return DayNames[id - Days.FirstId];
        if (Months.Contains(id)) return MonthNames[id - Months.FirstId];
        return ((char)('A' + id - Letters.FirstId)).ToString();
    }

    /// <summary>Space-separated <see cref="TokenToString"/> of each id.</summary>
    public string Render(ReadOnlySpan<int> ids)
    {
        var parts = new string[ids.Length];
        for (int i = 0; i < ids.Length; i++) parts[i] = TokenToString(ids[i]);
        return string.Join(' ', parts);
    }

    /// <summary>The layout as a table, one range per line.</summary>
    public string DescribeLayout()
    {
        string Range(int first, int count) => count == 1 ? $"{first}" : $"{first}–{first + count - 1}";
        var lines = new List<string>
        {
            $"  {Range(Bos, 1),-9} <bos>   starts every sequence",
            $"  {Range(Eos, 1),-9} <eos>   reserved (not in training sequences)",
            $"  {Range(Separator, 1),-9} <sep>   between spans",
            $"  {Range(Pad, 1),-9} <pad>   reserved for batching",
            $"  {Range(FirstWord, WordCount),-9} w0–w{WordCount - 1}  words (Zipfian; w0 most frequent)",
            $"  {Range(FirstMarkovState, MarkovStateCount),-9} m0–m{MarkovStateCount - 1}  Markov-chain states",
        };
        foreach (var list in OrderedLists)
            lines.Add($"  {Range(list.FirstId, list.Count),-9} {TokenToString(list.FirstId)}–{TokenToString(list.FirstId + list.Count - 1)}  {list.Name} ({(list.Cyclic ? "cyclic" : "not cyclic")})");
        return $"vocabulary: {Size} ids\n" + string.Join('\n', lines);
    }
}
