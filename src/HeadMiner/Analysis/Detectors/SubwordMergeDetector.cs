namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Subword-merge heads: a token that continues a word attends to the earlier pieces of the same word, assembling the
/// word from its pieces. A token continues a word when its text starts with a letter and the previous token's text
/// ends with a letter (no space or punctuation between: GPT-2's "Ġ" and SentencePiece's "▁" mark word starts), or,
/// for a WordPiece vocabulary, when it is spelled with the continuation prefix ("##our" after "harb");
/// its targets are the earlier pieces back to the word's first. Score: <see cref="TextPatternDetector"/>'s target
/// share minus a control: the share of attention on the previous token from tokens that start a word. A
/// previous-token head attends to i−1 whether or not it is the same word and so scores ~0; a head that merges
/// pieces attends to them only inside a word. (Without the control, every previous-token or local head of a
/// small-vocabulary model, where most words are several pieces, passed: 28 of stories260K's 40 heads.)
/// </summary>
public sealed class SubwordMergeDetector : TextPatternDetector
{
    public override string Id => "subword_merge";

    public override string Description =>
        "attends from a word-continuation subword to the earlier subwords of the same word; score = share of attention to earlier keys on those pieces";

    protected override string TargetNote => "targets: for a piece continuing a word (a WordPiece \"##\" piece, or one starting with a letter right after a piece ending with one), the word's earlier pieces";

    protected override string ControlNote => "control: for a piece that starts a word, the previous token (another word); score = target share − control share";

    protected override bool[]? Controls(DetectorContext context, int[] ids, int first)
    {
        int T = ids.Length;
        var continues = Continuations(context, ids);
        var mask = new bool[T * T];
        for (int i = first + 1; i < T; i++)
            if (!continues[i]) mask[i * T + i - 1] = true;
        return mask;
    }

    public override string? CannotRun(DetectorContext context)
    {
        if (base.CannotRun(context) is { } reason) return reason;
        // A word-level vocabulary (tokens split at whitespace, no "Ġ"/"▁" word-start marks in their text) makes every
        // token a whole word: read as text, "the store" would look like one word in two pieces, and any head that
        // looks back inside a clause would score as a merger (untrained models on the toy English reach 0.76; 33% of
        // them were above the threshold when the null distribution included them).
        if (context.Tokenizer is Models.Tokenizers.WordLevelTokenizer { ContinuingSubwordPrefix: null })
            return "the tokenizer is word level (every token a whole word, split at whitespace): no subwords to merge";
        int first = DetectorPrompts.Bos(context) is null ? 0 : 1;
        bool any = TextPrompts.Tokenize(context).Any(ids =>
        {
            var mask = Targets(context, ids, first);
            return mask.Contains(true);
        });
        return any ? null : "the tokenizer keeps every word of the sample text in one token: no subwords to merge";
    }

    protected override bool[] Targets(DetectorContext context, int[] ids, int first)
    {
        int T = ids.Length;
        var continues = Continuations(context, ids);
        var mask = new bool[T * T];
        for (int i = first + 1; i < T; i++)
        {
            int start = i;
            while (start > first && continues[start]) start--;
            for (int j = start; j < i; j++) mask[i * T + j] = true;
        }
        return mask;
    }

    /// <summary>
    /// Whether each position continues the word of the position before it: a WordPiece vocabulary says so itself (the
    /// "##" prefix); otherwise it is read from the text (a letter right after a letter, no word-start mark between).
    /// </summary>
    internal static bool[] Continuations(DetectorContext context, int[] ids)
    {
        var result = new bool[ids.Length];
        if (context.Tokenizer is Models.Tokenizers.WordLevelTokenizer { ContinuingSubwordPrefix: not null } pieces)
        {
            for (int i = 1; i < ids.Length; i++) result[i] = pieces.ContinuesWord(ids[i]);
            return result;
        }
        var text = ids.Select(id => DetectorPrompts.TokenText(context, id)).ToArray();
        for (int i = 1; i < ids.Length; i++) result[i] = Continues(text[i - 1], text[i]);
        return result;
    }

    private static bool Continues(string previous, string current) =>
        current.Length > 0 && char.IsLetter(current[0]) && previous.Length > 0 && char.IsLetter(previous[^1]) && !(previous.Length > 2 && previous[0] == '<' && previous[^1] == '>');

    protected override (float, string) Threshold(double baseline) =>
        (0.5f, $"half of the attention to earlier keys on the word's own pieces beyond what the head gives the previous token across a word boundary; even attention gives {baseline:0.000}");
}
