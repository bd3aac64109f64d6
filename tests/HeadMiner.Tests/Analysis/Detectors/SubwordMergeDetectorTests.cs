using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks.Synthetic;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis.Detectors;

/// <summary>Subword merging on a WordPiece vocabulary (the toy English's): the pieces say where words continue.</summary>
public class SubwordMergeDetectorTests
{
    private static readonly Lazy<ToyEnglish> English = new(() => new ToyEnglish());

    private static Transformer Model(int vocab)
    {
        var config = TinyModels.Gpt2Like(layers: 2) with { VocabSize = vocab, ContextLength = 64 };
        return new Transformer(config, RandomWeights.Create(config, 5, 0.1f, perturbNorms: true), "random-toy-english");
    }

    [Fact]
    public void AWordPieceVocabularyMarksExactlyItsContinuationPieces()
    {
        var t = English.Value.Tokenizer;
        var context = new DetectorContext(Model(t.VocabSize), t, new DetectorOptions { Prompts = 4, Seed = 1 });
        var ids = t.Encode("The old lighthouse keeper counted the kittiwakes .");
        Assert.Equal(["<bos>", "The", "old", "light", "##house", "keeper", "count", "##ed", "the", "kitti", "##wake", "##s", "."], ids.Select(t.TokenToString));
        Assert.Equal([false, false, false, false, true, false, false, true, false, false, true, true, false], SubwordMergeDetector.Continuations(context, ids));
        // Read as text, a word-level vocabulary would make "the" continue "old"; the pieces never do.
        Assert.False(SubwordMergeDetector.Continuations(context, t.Encode("the old"))[2]);
    }

    [Fact]
    public void ItRunsOnTheToyEnglishAndRefusesAWordLevelVocabulary()
    {
        var english = English.Value.Tokenizer;
        var detector = DetectorRegistry.Get("subword_merge");
        var options = new DetectorOptions { Prompts = 4, Seed = 1 };
        var context = new DetectorContext(Model(english.VocabSize), english, options);
        Assert.Null(detector.CannotRun(context));
        var result = detector.Run(context);
        Assert.All(result.Scores.ToArray(), v => Assert.InRange(v, -1f, 1f));
        Assert.Contains(result.Scores.ToArray(), v => v != 0);

        // The same text through a word-level vocabulary of its whole words: it spells every passage, but has no pieces.
        var words = new List<string> { "<bos>" };
        foreach (string passage in SampleText.Passages)
            words.AddRange(english.Tokens(passage).Aggregate(new List<string>(), (acc, w) =>
            {
                if (w.StartsWith("##", StringComparison.Ordinal)) acc[^1] += w[2..];
                else acc.Add(w);
                return acc;
            }));
        var vocab = words.Distinct().Select((w, i) => (w, i)).ToDictionary(x => x.w, x => x.i, StringComparer.Ordinal);
        var wordLevel = new WordLevelTokenizer(vocab, new Dictionary<string, int> { ["<bos>"] = 0 }, 0, null, true, isolate: english.Isolate);
        Assert.All(SampleText.Passages, p => Assert.DoesNotContain(wordLevel.Encode(p), id => wordLevel.ContinuesWord(id)));
        Assert.Contains("word level", detector.CannotRun(new DetectorContext(Model(wordLevel.VocabSize), wordLevel, options)));
    }
}
