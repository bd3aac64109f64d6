using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Repeated random tokens (the induction probe): BOS (when the model uses one), a random segment of
/// <see cref="SegmentLength"/> tokens, then the segment again up to its last token, which is the answer. The corrupted
/// prompt continues with fresh random tokens instead of the repeat, so nothing can be copied; its wrong answer is the
/// token that would follow there. Tokens are drawn from whole lowercase words with a leading space that re-encode to
/// themselves inside the text, so the prompt file (text) gives back exactly the drawn ids. Positions: FIRST (start
/// of the segment), SECOND (start of the repeat), END. Without a given length the segment is 20 tokens, fewer when the context or the word list is short. BOS is written as its special-token text for tokenizers that
/// do not add it themselves (GPT-2's &lt;|endoftext|&gt;).
/// </summary>
public sealed class RepeatedTokensSet(int? segmentLength = null) : TaskSetGenerator
{
    public int? SegmentLength { get; } = segmentLength is null or >= 2 ? segmentLength : throw new ArgumentOutOfRangeException(nameof(segmentLength), "a segment needs at least 2 tokens");

    public override string Name => "repeated_tokens";

    public override string Description => "Repeated random tokens: BOS, a random segment, then its repeat; corrupted = fresh tokens instead of the repeat";

    protected override PromptPairSet Build(ITokenizer tokenizer, TaskSetOptions options, SeededRandom random)
    {
        int length = SegmentLength ?? 20;
        string bos = tokenizer.BosId is int b && !tokenizer.AddsBosByDefault ? tokenizer.TokenToString(b) : "";
        int bosTokens = tokenizer.BosId is null ? 0 : 1;
        if (options.ContextLength is int ctx && bosTokens + 2 * length > ctx)
        {
            if (SegmentLength is not null)
                throw new HeadMinerException($"{Name}: two copies of a {length}-token segment do not fit a {ctx}-token context");
            length = (ctx - bosTokens) / 2;
        }
        var words = options.PromptTokens is { } pool ? Declared(tokenizer, pool) : Words(tokenizer);
        if (SegmentLength is null) length = Math.Max(2, Math.Min(length, (words.Count - 1) / 2));
        if (words.Count < 2 * length + 1)
            throw new HeadMinerException(TokenChecks.Missing(Name, $"{2 * length + 1} vocabulary entries that are whole lowercase words (3+ letters) with a leading space for a {length}-token segment", words.Select(w => w.Trim()).ToList()));

        var collector = new PairCollector(tokenizer, Name, options.Count, options.ContextLength);
        for (int attempt = 0; attempt < options.Count * 20 && !collector.Full; attempt++)
        {
            var drawn = TokenChecks.Draw(random, words, 2 * length + 1);
            var segment = drawn[..length];
            var fresh = drawn[length..(2 * length)];
            string first = bos + string.Concat(segment);
            string clean = first + string.Concat(segment[..^1]);
            string corrupted = first + string.Concat(fresh[..^1]);
            var ids = collector.Encode(clean);
            if (ids.Length != bosTokens + 2 * length - 1 && bos.Length == 0)
            {
                // A SentencePiece tokenizer adds its own space before the first word: drop ours.
                (clean, corrupted) = (clean[1..], corrupted[1..]);
                ids = collector.Encode(clean);
            }
            if (ids.Length != bosTokens + 2 * length - 1)
            {
                collector.Reject("the drawn words did not re-encode one token each");
                continue;
            }
            var positions = new Dictionary<string, int> { ["FIRST"] = bosTokens, ["SECOND"] = bosTokens + length, ["END"] = ids.Length - 1 };
            collector.TryAdd(new PromptPair(clean, corrupted, segment[^1], fresh[^1], positions));
        }
        return collector.Finish($"Repeated random tokens, {options.Count} pairs, segment of {length} tokens{(bosTokens == 1 ? " after BOS" : "")}; the answer is the segment's last token; corrupted continues with fresh tokens");
    }

    /// <summary>
    /// The declared ids that are ordinary text (<see cref="PromptVocabulary"/>), each as " text" (a prompt joins them
    /// with spaces; a draw whose text does not re-encode one token per word is rejected below), in id order.
    /// </summary>
    private List<string> Declared(ITokenizer tokenizer, IReadOnlySet<int> pool)
    {
        var words = PromptVocabulary.Ordinary(tokenizer, tokenizer.VocabSize).Where(pool.Contains)
            .Select(id => tokenizer.TokenToString(id)).Select(t => t.StartsWith(' ') ? t : " " + t).Distinct().ToList();
        if (words.Count < 5) throw new HeadMinerException($"{Name}: only {words.Count} of the {pool.Count} declared prompt tokens are ordinary text");
        return words;
    }

    /// <summary>Vocabulary entries " word" (lowercase letters, 3+) that re-encode to themselves after other text, in id order.</summary>
    private static List<string> Words(ITokenizer tokenizer)
    {
        var words = new List<string>();
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            string text = tokenizer.TokenToString(id);
            if (text.Length < 4 || text[0] != ' ' || text.AsSpan(1).ContainsAnyExceptInRange('a', 'z')) continue;
            if (TokenChecks.SingleTokenAfter(tokenizer, " the", text) == id) words.Add(text);
        }
        return words;
    }
}
