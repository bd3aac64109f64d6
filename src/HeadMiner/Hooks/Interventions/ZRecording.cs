using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Hooks.Interventions;

/// <summary>
/// Some heads' z (hook_z slices, [B, T, d_head] per forward) recorded on a clean run of a fixed, deterministic
/// computation (a task's <c>Evaluate</c>, which may make several batched forwards), for the two ablations that need
/// reference activations: <see cref="Mean"/> (z replaced by its mean over every prompt and position of the run) and
/// <c>Resample</c> (z replaced, on every prompt, by the same head's z on a different prompt of the same
/// length, chosen by a seeded derangement). The ablated computation must make the same forwards in the same order
/// (same shapes); a different sequence is an error, not a silent mismatch.
/// </summary>
public sealed class ZRecording
{
    private readonly Dictionary<(int Layer, int Head), List<Tensor>> _calls = [];
    private readonly Dictionary<(int Layer, int Head), Tensor> _means = [];
    private readonly ulong _seed;
    private (int Call, int Row)[][]? _sources;

    private ZRecording(ulong seed) => _seed = seed;

    /// <summary>How many prompts (batch rows over all forwards) the run had.</summary>
    public int Rows { get; private set; }

    /// <summary>Rows with no other prompt of their length: resample ablation gives them the mean instead.</summary>
    public int ResampleFallbacks { get; private set; }

    /// <summary>Runs <paramref name="run"/> once with a recorder for <paramref name="heads"/>' z.</summary>
    public static ZRecording Record(ModelConfig config, IEnumerable<(int Layer, int Head)> heads, Action<HookSet> run, ulong seed)
    {
        var recording = new ZRecording(seed);
        var byLayer = heads.Distinct().GroupBy(h => h.Layer).ToDictionary(g => g.Key, g => g.Select(h => h.Head).ToArray());
        foreach (var (l, hs) in byLayer)
            foreach (int h in hs) recording._calls[(l, h)] = [];
        var hooks = new HookSet(config);
        hooks.Add(n => n.Site == ActivationSite.Z && byLayer.ContainsKey(n.Layer), (z, name) =>
        {
            foreach (int h in byLayer[name.Layer])
            {
                int b = z.Dim(0), t = z.Dim(1), dh = z.Dim(3);
                var copy = Tensor.Zeros(b, t, dh);
                for (int bi = 0; bi < b; bi++)
                    for (int ti = 0; ti < t; ti++)
                        z.Select(0, bi).Select(0, ti).Select(0, h).CopyTo(copy.Select(0, bi).Select(0, ti));
                recording._calls[(name.Layer, h)].Add(copy);
            }
        });
        run(hooks);
        var first = recording._calls.Values.FirstOrDefault();
        if (first is null || first.Count == 0) throw new HeadMinerException("the recorded run computed no hook_z");
        recording.Rows = first.Sum(c => c.Dim(0));
        recording.Sources(first);
        return recording;
    }

    /// <summary>(layer, head)'s mean z over every prompt and position of the recorded run, [1, d_head].</summary>
    public Tensor Mean(int layer, int head)
    {
        if (_means.TryGetValue((layer, head), out var cached)) return cached;
        var calls = Calls(layer, head);
        int dh = calls[0].Dim(2);
        var sum = new double[dh];
        long n = 0;
        foreach (var c in calls)
        {
            var s = c.Span;
            for (int i = 0; i < s.Length; i++) sum[i % dh] += s[i];
            n += s.Length / dh;
        }
        var mean = Tensor.Zeros(1, dh);
        for (int k = 0; k < dh; k++) mean.Span[k] = (float)(sum[k] / n);
        return _means[(layer, head)] = mean;
    }

    /// <summary>Mean ablation of (layer, head): its z becomes <see cref="Mean"/> at every position.</summary>
    public IDisposable AddMean(HookSet hooks, int layer, int head) => HeadAblation.Replace(hooks, layer, head, Mean(layer, head));

    /// <summary>
    /// Resample ablation of (layer, head): on forward k, row b, its z becomes the recorded z of the source prompt
    /// <see cref="SourceOf"/>(k, b) — the same head on a different prompt of the same length (the mean when the run
    /// has no other prompt of that length). The hook counts the forwards, so it serves one run of the computation.
    /// </summary>
    public IDisposable AddResample(HookSet hooks, int layer, int head)
    {
        var calls = Calls(layer, head);
        var sources = Sources(calls);
        int call = 0;
        return hooks.Add(HookName.Of(ActivationSite.Z, layer), (z, _) =>
        {
            int k = call++;
            if (k >= calls.Count || calls[k].Dim(0) != z.Dim(0) || calls[k].Dim(1) != z.Dim(1))
                throw new HeadMinerException($"resample ablation of L{layer}H{head}: forward {k} ([{z.Dim(0)}, {z.Dim(1)}]) does not match the recorded run");
            HeadAblation.ForEachSlice(z, head, null, (slice, b, t) =>
            {
                var (sc, sr) = sources[k][b];
                if (sc < 0) Mean(layer, head).Select(0, 0).CopyTo(slice);
                else calls[sc].Select(0, sr).Select(0, t).CopyTo(slice);
            });
        });
    }

    /// <summary>The (forward, row) whose z replaces forward <paramref name="call"/>'s row <paramref name="row"/> under resample ablation; (−1, −1) = the mean.</summary>
    public (int Call, int Row) SourceOf(int call, int row) => Sources(_calls.Values.First())[call][row];

    private List<Tensor> Calls(int layer, int head) => _calls.TryGetValue((layer, head), out var calls)
        ? calls
        : throw new HeadMinerException($"L{layer}H{head}'s z was not recorded");

    // The same map for every head (every head saw the same forwards): the prompts of one length, in a seeded order,
    // each take the next one's z (a cyclic shift of a shuffle, so no prompt keeps its own).
    private (int Call, int Row)[][] Sources(List<Tensor> calls)
    {
        if (_sources is not null) return _sources;
        var sources = calls.Select(c => new (int, int)[c.Dim(0)]).ToArray();
        var random = new SeededRandom(_seed ^ 0x5E5A3F1EUL);
        int fallbacks = 0;
        foreach (var group in Enumerable.Range(0, calls.Count).SelectMany(c => Enumerable.Range(0, calls[c].Dim(0)).Select(r => (Call: c, Row: r)))
                     .GroupBy(x => calls[x.Call].Dim(1)).OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            if (members.Length == 1)
            {
                sources[members[0].Call][members[0].Row] = (-1, -1);
                fallbacks++;
                continue;
            }
            random.Shuffle(members.AsSpan());
            for (int i = 0; i < members.Length; i++) sources[members[i].Call][members[i].Row] = members[(i + 1) % members.Length];
        }
        ResampleFallbacks = fallbacks;
        return _sources = sources;
    }
}
