using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Analysis.Atlas;

/// <summary>One unit of a split atlas: detectors run together in one process, in registry order.</summary>
public sealed record AtlasUnit(int Index, IReadOnlyList<string> DetectorIds)
{
    public override string ToString() => $"atlas unit {Index} ({string.Join(", ", DetectorIds)})";
}

/// <summary>
/// How an atlas splits into units that reproduce the whole run exactly. The unit is the detector, not a shard of its
/// prompts: a detector's score is a mean over prompts whose count doubles until every head's interval is decided
/// (<see cref="DetectorRunner"/>), so its reduction cannot be cut at a prompt boundary without changing the sums or
/// the stopping point. Detectors whose causal checks share a task (<see cref="CausalTask.Key"/>: e.g.
/// previous_token, duplicate_token and induction all ablate against the repeated-tokens loss) share that task's
/// evaluations in a whole run, and an atlas entry reports how many evaluations its own check added; such detectors
/// form one unit, so each unit replays exactly the sequence of evaluations the whole run makes.
/// </summary>
public static class AtlasUnits
{
    public static IReadOnlyList<AtlasUnit> Plan(Transformer model, ITokenizer? tokenizer, AtlasOptions options)
    {
        options.Validate();
        var detectors = DetectorRegistry.Parse(options.Detectors);
        var context = new DetectorContext(model, tokenizer, options.Detector);
        // A detector has at most one task key, so the groups are disjoint: each is placed at its first member.
        var groupOf = new int[detectors.Count];
        var keyGroup = new Dictionary<string, int>();
        for (int i = 0; i < detectors.Count; i++)
        {
            groupOf[i] = Key(detectors[i], context) is not { } key ? i
                : keyGroup.TryGetValue(key, out int first) ? first
                : keyGroup[key] = i;
        }
        return [.. Enumerable.Range(0, detectors.Count).GroupBy(i => groupOf[i]).OrderBy(g => g.Min())
            .Select((g, index) => new AtlasUnit(index, [.. g.Order().Select(i => detectors[i].Id)]))];
    }

    private static string? Key(IHeadDetector detector, DetectorContext context)
    {
        if (detector is not ICausalDetector causal) return null;
        try
        {
            return causal.CausalTask(context)?.Key;
        }
        catch (HeadMinerException)
        {
            // A detector that cannot build its task runs no causal check and shares nothing.
            return null;
        }
    }
}
