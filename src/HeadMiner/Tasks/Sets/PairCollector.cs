using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Accepts candidate pairs only when they keep the set usable for position-wise patching: clean and corrupted of the
/// same token length, every pair as long as the first, within the context, answer and wrong single tokens that
/// differ. Generators propose candidates until enough are accepted; <see cref="Finish"/> fails with the reason when
/// too few were.
/// </summary>
internal sealed class PairCollector(ITokenizer tokenizer, string set, int count, int? contextLength)
{
    private readonly List<PromptPair> _pairs = [];
    private readonly HashSet<string> _cleanSeen = [];
    private string _lastRejection = "no candidate was proposed";

    public int Count => _pairs.Count;
    public bool Full => _pairs.Count >= count;

    /// <summary>Token length every pair has (once one was accepted).</summary>
    public int? Length { get; private set; }

    /// <summary>The clean prompt's ids, for generators that compute positions before <see cref="TryAdd"/>.</summary>
    public int[] Encode(string text) => tokenizer.Encode(text);

    public bool TryAdd(PromptPair pair, bool allowDuplicates = false)
    {
        var clean = tokenizer.Encode(pair.Clean);
        var corrupted = tokenizer.Encode(pair.Corrupted);
        if (clean.Length != corrupted.Length) return Reject($"clean is {clean.Length} tokens but corrupted {corrupted.Length}");
        if (Length is int n && clean.Length != n) return Reject($"a prompt of {clean.Length} tokens where the set has {n}");
        if (contextLength is int ctx && clean.Length + 1 > ctx) return Reject($"a prompt of {clean.Length} tokens does not fit the {ctx}-token context");
        var answer = TokenChecks.SingleTokenAfter(tokenizer, pair.Clean, pair.Answer);
        var wrong = TokenChecks.SingleTokenAfter(tokenizer, pair.Clean, pair.Wrong);
        if (answer is null || wrong is null) return Reject($"answer \"{pair.Answer}\" or wrong \"{pair.Wrong}\" is not one token");
        if (answer == wrong) return Reject("answer and wrong are the same token");
        if (!allowDuplicates && !_cleanSeen.Add(pair.Clean + "\u0000" + pair.Corrupted)) return Reject("a duplicate pair");
        Length = clean.Length;
        _pairs.Add(pair);
        return true;
    }

    public bool Reject(string reason)
    {
        _lastRejection = reason;
        return false;
    }

    public PromptPairSet Finish(string description)
    {
        if (_pairs.Count < count)
            throw new HeadMinerException($"{set}: built only {_pairs.Count} of {count} pairs for this tokenizer (last rejected: {_lastRejection})");
        return new PromptPairSet { Task = set, Description = description, Pairs = _pairs };
    }
}
