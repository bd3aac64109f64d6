namespace HeadMiner.Analysis.Detectors;

/// <summary>The tokenized <see cref="SampleText"/> passages (BOS first when the model uses one) that text-based pattern detectors run.</summary>
public static class TextPrompts
{
    public static int[][] Tokenize(DetectorContext context)
    {
        var tokenizer = context.Tokenizer ?? throw new HeadMinerException("this detector needs the model's tokenizer");
        int? bos = DetectorPrompts.Bos(context);
        return [.. SampleText.Passages.Select(p =>
        {
            var ids = tokenizer.Encode(p, false);
            return bos is int b ? [b, .. ids] : ids;
        })];
    }
}
