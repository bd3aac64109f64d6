using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Detectors;

/// <summary>One prompt pair of a task set as token ids, with its named positions and (Greater-Than) answer sets as ids.</summary>
public sealed record TaskPrompt(int[] Clean, int[] Corrupted, int Answer, int Wrong, IReadOnlyDictionary<string, int> Positions,
    int[]? AnswerSet = null, int[]? WrongSet = null)
{
    public int Position(string name) => Positions.TryGetValue(name, out int p)
        ? p
        : throw new HeadMinerException($"task prompt has no \"{name}\" position");
}

/// <summary>
/// The task set a task detector runs on, built from a <see cref="TaskSetGenerator"/> for the detector's tokenizer and
/// tokenized pair by pair (sets such as MCQA mix prompt lengths; runs group equal lengths into one batch). Also the
/// shared pieces of the task detectors: the common skip reasons, attention rows at chosen query positions, and a
/// last-position metric under hooks for <see cref="ICausalDetector"/>.
/// </summary>
public sealed class TaskPrompts
{
    private TaskPrompts(Transformer model, string task, string description, TaskPrompt[] prompts)
    {
        Model = model;
        Task = task;
        Description = description;
        Prompts = prompts;
    }

    public Transformer Model { get; }
    public string Task { get; }
    public string Description { get; }
    public IReadOnlyList<TaskPrompt> Prompts { get; }
    public int Count => Prompts.Count;

    /// <summary>Null when <paramref name="generator"/>'s set can be built and run for this context; else why not.</summary>
    public static string? CannotRun(DetectorContext context, TaskSetGenerator generator)
    {
        if (context.Tokenizer is null) return $"needs a tokenizer to build the {generator.Name} task set";
        if (context.CannotRunForward() is { } forward) return forward;
        var (ok, reason) = generator.CanBuild(context.Tokenizer, context.Config.ContextLength);
        return ok ? null : $"cannot build the {generator.Name} task set for this tokenizer: {reason}";
    }

    /// <summary>Generates <paramref name="count"/> pairs (seeded by the detector options) and tokenizes them.</summary>
    public static TaskPrompts Build(DetectorContext context, TaskSetGenerator generator, int count, string detectorId)
    {
        if (CannotRun(context, generator) is { } reason) throw new HeadMinerException($"{detectorId}: {reason}");
        var tokenizer = context.Tokenizer!;
        var set = generator.Generate(tokenizer, new TaskSetOptions { Count = count, Seed = context.Options.Seed, ContextLength = context.Config.ContextLength });
        var prompts = new TaskPrompt[set.Pairs.Count];
        int vocab = context.Config.VocabSize;
        for (int i = 0; i < prompts.Length; i++)
        {
            var pair = set.Pairs[i];
            var one = Single(pair).Tokenize(tokenizer, $"{generator.Name} pair {i}");
            int[]? answers = pair.AnswerSet?.Select(a => Continuation(tokenizer, pair, a, generator.Name, i)).ToArray();
            int[]? wrongs = pair.WrongSet?.Select(w => Continuation(tokenizer, pair, w, generator.Name, i)).ToArray();
            foreach (int id in one.Clean[0].Concat(one.Corrupted[0]).Append(one.Answers[0]).Append(one.Wrongs[0]).Concat(answers ?? []).Concat(wrongs ?? []))
                if ((uint)id >= (uint)vocab)
                    throw new HeadMinerException($"{detectorId}: the tokenizer's id {id} is outside the model's vocabulary of {vocab}");
            prompts[i] = new TaskPrompt(one.Clean[0], one.Corrupted[0], one.Answers[0], one.Wrongs[0],
                pair.Positions ?? new Dictionary<string, int>(), answers, wrongs);
        }
        return new TaskPrompts(context.Model, generator.Name, set.Description ?? generator.Description, prompts);
    }

    private static PromptPairSet Single(PromptPair pair) => new() { Pairs = [pair] };

    /// <summary>The single token <paramref name="text"/> adds after the clean prompt (the prompt-pair file's rule).</summary>
    private static int Continuation(Models.Tokenizers.ITokenizer tokenizer, PromptPair pair, string text, string task, int index) =>
        Single(pair with { Answer = text }).Tokenize(tokenizer, $"{task} pair {index}").Answers[0];

    /// <summary>Prompt indices grouped by token length, so each group is one unpadded batch.</summary>
    public IEnumerable<int[]> LengthGroups() =>
        Enumerable.Range(0, Count).GroupBy(i => Prompts[i].Clean.Length).Select(g => g.ToArray());

    /// <summary>The clean (or corrupted) prompts of <paramref name="indices"/> as one batch.</summary>
    public TokenBatch Batch(int[] indices, bool corrupted = false)
    {
        int t = Prompts[indices[0]].Clean.Length;
        var ids = new int[indices.Length * t];
        for (int b = 0; b < indices.Length; b++) (corrupted ? Prompts[indices[b]].Corrupted : Prompts[indices[b]].Clean).CopyTo(ids, b * t);
        return new TokenBatch(ids, indices.Length, t);
    }

    /// <summary>The prompts of <paramref name="indices"/> in the prompt-pair form the patching code takes.</summary>
    public TokenizedPairs Pairs(int[] indices) => new(
        [.. indices.Select(i => Prompts[i].Clean)], [.. indices.Select(i => Prompts[i].Corrupted)],
        [.. indices.Select(i => Prompts[i].Answer)], [.. indices.Select(i => Prompts[i].Wrong)]);

    /// <summary>
    /// Attention rows of every head at chosen query positions of the clean prompts: result[p][layer·H + head][q] is
    /// the row (keys 0..T−1, zero after the query) of query <paramref name="queries"/>(p)[q]. One batched forward per
    /// length group, caching only hook_pattern.
    /// </summary>
    public float[][][][] AttentionRows(DetectorContext context, Func<TaskPrompt, int[]> queries, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        int L = context.Config.Layers, H = context.Config.Heads;
        var result = new float[Count][][][];
        var wanted = Prompts.Select(queries).ToArray();
        for (int p = 0; p < Count; p++)
        {
            result[p] = new float[L * H][][];
            for (int k = 0; k < L * H; k++) result[p][k] = new float[wanted[p].Length][];
        }
        PatternScan.Run(context, [.. Prompts.Select(p => p.Clean)], (layer, p, pattern) =>
        {
            int t = Prompts[p].Clean.Length;
            var a = pattern.Contiguous().Span;
            for (int h = 0; h < H; h++)
                for (int q = 0; q < wanted[p].Length; q++)
                    result[p][layer * H + h][q] = a.Slice((h * t + wanted[p][q]) * t, t).ToArray();
        }, progress, cancel);
        return result;
    }

    /// <summary>
    /// Mean over the prompts of <paramref name="perPrompt"/>(prompt index, last-position logits [vocab]) on the clean
    /// prompts run with <paramref name="hooks"/> (one batched forward per length group, only the last position unembedded).
    /// </summary>
    public double MeanAtLast(HookSet hooks, Func<int, ReadOnlySpan<float>, double> perPrompt)
    {
        int v = Model.Config.VocabSize;
        double sum = 0;
        foreach (var group in LengthGroups())
        {
            var logits = Model.RunWithHooks(Batch(group), hooks, lastOnly: true).Contiguous().Span; // [B, 1, V]
            for (int b = 0; b < group.Length; b++) sum += perPrompt(group[b], logits.Slice(b * v, v));
        }
        return sum / Count;
    }

    /// <summary>logit[answer] − logit[wrong] at the last position, mean over the prompts.</summary>
    public double LogitDiff(HookSet hooks) => MeanAtLast(hooks, (p, row) => row[Prompts[p].Answer] - row[Prompts[p].Wrong]);

    /// <summary>A causal task on this set measuring <see cref="LogitDiff"/>.</summary>
    public CausalTask LogitDiffTask(string what)
    {
        string metric = $"logit[{what}] − logit[wrong] at the last position ({Task}, {Count} prompts)";
        return new(metric, HigherIsBetter: true, LogitDiff) { Key = metric };
    }
}
