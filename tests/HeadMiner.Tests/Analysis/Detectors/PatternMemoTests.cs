using HeadMiner.Analysis.Detectors;
using HeadMiner.Hooks;
using HeadMiner.Models;

namespace HeadMiner.Tests.Analysis.Detectors;

/// <summary>Detectors that scan the same prompts share their patterns through <see cref="PatternMemo"/>, with results equal to their own forwards.</summary>
public class PatternMemoTests
{
    private static readonly DetectorOptions Options = new() { Prompts = 5, SegmentLength = 11, Seed = 7 };

    private static float[] Scores(DetectorResult result) => Values(result.Scores);

    private static float[] Values(HeadMiner.Tensors.Tensor t) => t.Contiguous().Span.ToArray();

    [Fact]
    public void DetectorsOfOnePromptSetRunEachForwardOnceAndScoreTheSame()
    {
        var model = PlantedHeads.Create();
        var plain = new DetectorContext(model, null, Options);
        var memo = new PatternMemo(model);
        var shared = plain with { Patterns = memo };
        string[] ids = ["previous_token", "duplicate_token", "induction"];
        foreach (var id in ids)
        {
            var detector = DetectorRegistry.Get(id);
            var alone = detector.Run(plain);
            var withMemo = detector.Run(shared);
            Assert.Equal(Scores(alone), Scores(withMemo));
            Assert.Equal(Values(alone.Matrices!["offset"]), Values(withMemo.Matrices!["offset"]));
        }
        // The first detector ran the 5 prompts; the other two found all of them.
        Assert.Equal(2 * Options.Prompts, memo.Hits);
        Assert.True(memo.Bytes > 0);

        // Twice the prompts (the adaptive rerun): the first 5 are found, the next 5 run, and the scores still match.
        var doubled = Options with { Prompts = 2 * Options.Prompts };
        var induction = DetectorRegistry.Get("induction");
        Assert.Equal(Scores(induction.Run(plain with { Options = doubled })), Scores(induction.Run(shared with { Options = doubled })));
        Assert.Equal(3 * Options.Prompts, memo.Hits);
    }

    [Fact]
    public void ScansWithPatternHooksAnotherModelOrNoRoomLeaveTheMemoAlone()
    {
        var model = PlantedHeads.Create();
        var detector = DetectorRegistry.Get("previous_token");

        // Hooks that change the patterns: neither read nor filled.
        var memo = new PatternMemo(model);
        var hooks = new HookSet(model.Config);
        hooks.Add(HookName.Of(ActivationSite.Pattern, 0), (p, _) => p.Span.Fill(0.5f));
        var hooked = new DetectorContext(model, null, Options) { PatternHooks = hooks, Patterns = memo };
        detector.Run(hooked);
        detector.Run(hooked);
        Assert.Equal((0, 0L), (memo.Hits, memo.Bytes));

        // A memo of another model is ignored.
        var other = new PatternMemo(PlantedHeads.Create());
        detector.Run(new DetectorContext(model, null, Options) { Patterns = other });
        Assert.Equal((0, 0L), (other.Hits, other.Bytes));

        // No room: nothing is kept beyond the bound, and the runs still give the same scores.
        var tiny = new PatternMemo(model, maxBytes: 1000);
        var bounded = new DetectorContext(model, null, Options) { Patterns = tiny };
        var first = detector.Run(bounded);
        var second = detector.Run(bounded);
        Assert.Equal((0, 0L), (tiny.Hits, tiny.Bytes));
        Assert.Equal(Scores(first), Scores(second));
    }
}
