using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// The prompts pattern detectors run: random "ordinary" tokens (no BOS/EOS/special tokens), BOS first when the
/// model uses one. Random tokens carry no meaning, so whatever structure a head follows on them is positional
/// or token-identity structure, which is what these detectors want to isolate.
/// </summary>
public static class DetectorPrompts
{
    /// <summary>The BOS id prompts start with, or null (see <see cref="DetectorOptions.PrependBos"/>).</summary>
    public static int? Bos(DetectorContext context)
    {
        int? bos = context.Tokenizer?.BosId ?? context.Config.BosTokenId;
        bool use = context.Options.PrependBos ?? bos is not null;
        if (use && bos is null) throw new HeadMinerException("detector options ask for a BOS token, but neither the model nor its tokenizer has one");
        return use ? bos : null;
    }

    /// <summary>
    /// Ids that may be drawn: the tokenizer's ordinary text tokens (<see cref="PromptVocabulary"/>: no special,
    /// byte-fallback, control or never-produced tokens), within <see cref="DetectorOptions.PromptTokens"/> when a model
    /// declares them (headminer.json); without a tokenizer, every id but BOS/EOS.
    /// </summary>
    public static int[] OrdinaryTokens(DetectorContext context)
    {
        var tokenizer = context.Tokenizer;
        int vocab = tokenizer is null ? context.Config.VocabSize : Math.Min(context.Config.VocabSize, tokenizer.VocabSize);
        var candidates = tokenizer is null ? Enumerable.Range(0, vocab) : PromptVocabulary.Ordinary(tokenizer, vocab);
        var excluded = new HashSet<int>();
        foreach (var id in new[] { context.Config.BosTokenId, context.Config.EosTokenId }) if (id is int i) excluded.Add(i);
        var pool = context.Options.PromptTokens;
        int[] ids = [.. candidates.Where(id => !excluded.Contains(id) && (pool is null || pool.Contains(id)))];
        if (ids.Length < 2) throw new HeadMinerException($"the vocabulary has {ids.Length} ordinary tokens; random-token prompts need at least 2");
        return ids;
    }

    /// <summary>A note on the pool random-token prompts draw from (for detector notes).</summary>
    public static string PoolNote(DetectorContext context)
    {
        int drawn = OrdinaryTokens(context).Length;
        string declared = context.Options.PromptTokens is null ? "" : $", within the {context.Options.PromptTokens.Count} ids the model declares in {AnalysisHints.FileName}";
        return context.Tokenizer is null
            ? $"random tokens drawn from {drawn} ids (no tokenizer: every id but BOS/EOS){declared}"
            : $"random tokens drawn from {drawn} ordinary ids{declared} ({PromptVocabulary.Summary(context.Tokenizer, Math.Min(context.Config.VocabSize, context.Tokenizer.VocabSize))})";
    }

    /// <summary>
    /// <paramref name="count"/> prompts of [BOS] + s + s, each s a random segment of <paramref name="segment"/>
    /// distinct ordinary tokens (distinct while the vocabulary allows, so every repeat is the planted one).
    /// </summary>
    public static int[][] Repeated(DetectorContext context, int count, int segment, ulong seed)
    {
        var prompts = Random(context, count, segment, seed);
        int offset = Bos(context) is null ? 0 : 1;
        return [.. prompts.Select(p => p.Concat(p.AsSpan(offset).ToArray()).ToArray())];
    }

    /// <summary><paramref name="count"/> prompts of [BOS] + <paramref name="length"/> random ordinary tokens (distinct while the vocabulary allows).</summary>
    public static int[][] Random(DetectorContext context, int count, int length, ulong seed)
    {
        var ordinary = OrdinaryTokens(context);
        int? bos = Bos(context);
        var rng = new SeededRandom(seed);
        var prompts = new int[count][];
        for (int p = 0; p < count; p++)
        {
            var drawn = new List<int>(length + 1);
            if (bos is int b) drawn.Add(b);
            var used = new HashSet<int>();
            while (drawn.Count < length + (bos is null ? 0 : 1))
            {
                int id = ordinary[rng.NextInt(ordinary.Length)];
                if (used.Count < ordinary.Length && !used.Add(id)) continue;
                drawn.Add(id);
            }
            prompts[p] = [.. drawn];
        }
        return prompts;
    }

    /// <summary>How a token appears in evidence: the tokenizer's readable form, or "#id" without a tokenizer.</summary>
    public static string TokenText(DetectorContext context, int id) => context.Tokenizer?.TokenToString(id) ?? $"#{id}";
}
