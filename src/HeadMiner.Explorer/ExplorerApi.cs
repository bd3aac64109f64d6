using HeadMiner.Analysis;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Attribution;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Reports;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Explorer;

/// <summary>
/// The computations behind the JSON API, one method per endpoint. Each takes the parsed request and a cancellation
/// token and returns the response object (snake_case fields, see docs/EXPLORER.md); bad input throws
/// <see cref="ApiException"/>.
/// </summary>
public sealed class ExplorerApi(IReadOnlyList<ExplorerModel> models, ExplorerLimits limits, bool atlasOnDemand = false)
{
    private readonly Dictionary<string, ExplorerModel> _byId = models.ToDictionary(m => m.Id, StringComparer.Ordinal);

    public IReadOnlyList<ExplorerModel> Models { get; } = models;

    public ExplorerModel Model(string? id)
    {
        if (string.IsNullOrEmpty(id)) throw ApiException.BadRequest("\"model\" is required (a model id from /api/models)");
        return _byId.TryGetValue(id, out var m) ? m
            : throw ApiException.NotFound($"unknown model id \"{Clip(id)}\"; available: {string.Join(", ", _byId.Keys)}");
    }

    public object ListModels() => new
    {
        models = Models.Select(m => new
        {
            id = m.Id,
            name = m.Name,
            architecture = m.Config.Architecture,
            layers = m.Config.Layers,
            heads = m.Config.Heads,
            context_length = m.Config.ContextLength,
            vocab_size = m.Config.VocabSize,
            has_tokenizer = m.Loaded.Tokenizer is not null,
            has_atlas = m.SavedAtlas is not null,
            atlas = m.SavedAtlas is not null ? "saved" : atlasOnDemand ? "on_demand" : "none",
            examples = m.Examples.Select(e => new { task = e.Task, prompt = e.Prompt }).ToArray(),
        }).ToArray(),
        limits = new { max_body_bytes = limits.MaxBodyBytes, max_prompt_chars = limits.MaxPromptChars, request_timeout_s = limits.RequestTimeout.TotalSeconds },
    };

    public object Tokenize(ApiRequest r)
    {
        var m = Model(r.OptionalString("model"));
        var ids = PromptInput.Tokens(m, r, limits);
        return new { model = m.Id, token_ids = ids, tokens = ids.Select(i => PromptInput.TokenText(m, i)).ToArray() };
    }

    /// <summary>Attention pattern of one head ("head" given) or of every head of the layer: [head][query][key].</summary>
    public object Pattern(ApiRequest r, CancellationToken ct)
    {
        var m = Model(r.OptionalString("model"));
        int layer = r.Int("layer", 0, m.Config.Layers - 1, $"the model has {m.Config.Layers} layers");
        int? head = r.OptionalInt("head", 0, m.Config.Heads - 1, $"the model has {m.Config.Heads} heads per layer");
        var ids = PromptInput.Tokens(m, r, limits);
        var hook = HookName.Of(ActivationSite.Pattern, layer);
        var cache = new ActivationCache(m.Model, CacheFilter.Of(hook));
        var hooks = ComputeGate.CancellationHooks(m.Config, ct).Include(cache);
        m.Model.Run(TokenBatch.Single(ids), new ForwardOptions { Hooks = hooks, EndLayer = layer + 1 });
        var pattern = cache.Get(hook); // [1, H, T, T]
        RequireFinite(m, ids, pattern.Contiguous().Span);
        int t = ids.Length;
        float[][] Head(int h) => Enumerable.Range(0, t).Select(q => Enumerable.Range(0, t).Select(k => pattern[0, h, q, k]).ToArray()).ToArray();
        return new
        {
            model = m.Id,
            layer,
            head,
            token_ids = ids,
            tokens = ids.Select(i => PromptInput.TokenText(m, i)).ToArray(),
            patterns = head is int one ? [Head(one)] : Enumerable.Range(0, m.Config.Heads).Select(Head).ToArray(),
        };
    }

    public object LogitLens(ApiRequest r, CancellationToken ct)
    {
        var m = Model(r.OptionalString("model"));
        int top = r.OptionalInt("top", 1, limits.MaxTop, $"at most {limits.MaxTop}") ?? 5;
        var ids = PromptInput.Tokens(m, r, limits);
        ct.ThrowIfCancellationRequested();
        var lens = Analysis.LogitLens.Run(m.Model, ids, top);
        RequireFinite(m, ids, lens.Layers.SelectMany(l => l.Top.SelectMany(x => new[] { x.Prob, x.Logit })).ToArray());
        return new
        {
            model = m.Id,
            tokens = ids.Select(i => PromptInput.TokenText(m, i)).ToArray(),
            position = lens.Position,
            layers = lens.Layers.Select(l => new
            {
                label = l.Label,
                top = l.Top.Select(x => new { id = x.Id, token = PromptInput.TokenText(m, x.Id), prob = x.Prob, logit = x.Logit }).ToArray(),
            }).ToArray(),
        };
    }

    /// <summary>Direct logit attribution of every head towards "answer" (default: the model's top next token).</summary>
    public object Attribution(ApiRequest r, CancellationToken ct)
    {
        var m = Model(r.OptionalString("model"));
        int? answer = r.OptionalInt("answer", 0, m.Config.VocabSize - 1, $"a token id below {m.Config.VocabSize}");
        var ids = PromptInput.Tokens(m, r, limits);
        int target = answer ?? ArgMax(NextTokenProbabilities(m, ids, null, ct));
        ct.ThrowIfCancellationRequested();
        var dla = DirectLogitAttribution.Compute(m.Model, TokenBatch.Single(ids), [target]);
        var p = dla.Prompts[0];
        RequireFinite(m, ids, [(float)p.LogitDiff]);
        return new
        {
            model = m.Id,
            answer = new { id = target, token = PromptInput.TokenText(m, target) },
            logit = p.LogitDiff, // before a final-logit soft cap: what the components add up to
            capped_logit = p.CappedLogitDiff,
            heads = p.Heads,
            components = dla.ComponentLabels.Zip(p.Components, (label, value) => new { label, value }).ToArray(),
        };
    }

    /// <summary>
    /// The information flow of the prompt (<see cref="InformationFlow"/>): the routes into the last token at
    /// "threshold" (default 0.04, the LLM Transparency Tool's), and every head's and MLP's share at the last position.
    /// </summary>
    public object Flow(ApiRequest r, CancellationToken ct)
    {
        var m = Model(r.OptionalString("model"));
        double threshold = r.OptionalDouble("threshold", 0, 1, "a share between 0 and 1") ?? 0.04;
        var ids = PromptInput.Tokens(m, r, limits);
        var flow = InformationFlow.Compute(m.Model, ids, ct);
        int last = ids.Length - 1, layers = m.Config.Layers;
        double[] lastShares = [.. flow.AttentionResidual.Select(x => x[last]), .. flow.Mlp.Select(x => x[last])];
        if (lastShares.Any(v => !double.IsFinite(v))) throw FiniteForward.Locate(m.Model, ids, $"model {m.Id}");
        return new
        {
            model = m.Id,
            tokens = ids.Select(i => PromptInput.TokenText(m, i)).ToArray(),
            token_ids = ids,
            layers,
            heads = m.Config.Heads,
            parallel = flow.Parallel,
            threshold,
            edges = flow.Routes(threshold).Select(e => new
            {
                kind = e.Kind.ToString().ToLowerInvariant(),
                layer = e.Layer,
                head = e.Head,
                from = new[] { e.FromDepth, e.FromPosition },
                to = new[] { e.ToDepth, e.ToPosition },
                share = e.Share,
            }).ToArray(),
            last = new
            {
                position = last,
                heads = Enumerable.Range(0, layers).Select(l => Enumerable.Range(0, m.Config.Heads).Select(h => flow.HeadShare(l, last, h)).ToArray()).ToArray(),
                mlp = flow.Mlp.Select(x => x[last]).ToArray(),
                attention_residual = flow.AttentionResidual.Select(x => x[last]).ToArray(),
                attention_bias = flow.AttentionBias.Select(x => x[last]).ToArray(),
                mlp_residual = flow.MlpResidual?.Select(x => x[last]).ToArray(),
            },
        };
    }

    /// <summary>
    /// The next-token distribution before and after an intervention on one head: "ablate" (its output zeroed) or
    /// "patch" (its output taken from a run on "source_prompt", which must have as many tokens).
    /// </summary>
    public object Intervene(ApiRequest r, CancellationToken ct)
    {
        var m = Model(r.OptionalString("model"));
        int layer = r.Int("layer", 0, m.Config.Layers - 1, $"the model has {m.Config.Layers} layers");
        int head = r.Int("head", 0, m.Config.Heads - 1, $"the model has {m.Config.Heads} heads per layer");
        int top = r.OptionalInt("top", 1, limits.MaxTop, $"at most {limits.MaxTop}") ?? 10;
        string kind = r.OptionalString("kind") ?? "ablate";
        var ids = PromptInput.Tokens(m, r, limits);
        var before = NextTokenProbabilities(m, ids, null, ct);
        float[] after;
        switch (kind)
        {
            case "ablate":
                after = NextTokenProbabilities(m, ids, hooks => HeadAblation.Zero(hooks, layer, head), ct);
                break;
            case "patch":
                var source = PromptInput.Tokens(m, r, limits, "source_prompt", "source_tokens");
                if (source.Length != ids.Length)
                    throw ApiException.BadRequest($"patching needs prompts of equal length: \"source_prompt\" has {source.Length} tokens, \"prompt\" has {ids.Length}");
                var zHook = HookName.Of(ActivationSite.Z, layer);
                var sourceCache = new ActivationCache(m.Model, CacheFilter.Of(zHook));
                m.Model.Run(TokenBatch.Single(source), new ForwardOptions { Hooks = ComputeGate.CancellationHooks(m.Config, ct).Include(sourceCache), EndLayer = layer + 1 });
                after = NextTokenProbabilities(m, ids, hooks => HeadAblation.Resample(hooks, layer, head, sourceCache), ct);
                break;
            default:
                throw ApiException.BadRequest($"\"kind\" is \"{Clip(kind)}\"; it must be ablate or patch");
        }
        var shown = TopIds(before, top).Concat(TopIds(after, top)).Distinct().ToArray();
        double kl = 0;
        for (int i = 0; i < before.Length; i++)
            if (before[i] > 0) kl += before[i] * (Math.Log(before[i]) - Math.Log(Math.Max(after[i], 1e-30f)));
        return new
        {
            model = m.Id,
            kind,
            layer,
            head,
            tokens = ids.Select(i => PromptInput.TokenText(m, i)).ToArray(),
            kl_before_after = kl,
            top_before = new { id = ArgMax(before), token = PromptInput.TokenText(m, ArgMax(before)) },
            top_after = new { id = ArgMax(after), token = PromptInput.TokenText(m, ArgMax(after)) },
            rows = shown.Select(id => new { id, token = PromptInput.TokenText(m, id), before = before[id], after = after[id] }).ToArray(),
        };
    }

    /// <summary>
    /// The circuit that carries a task (<see cref="SmallestFaithfulCircuit"/>, as the atlas finds it): "task" (a task
    /// set the model's vocabulary can spell: its pairs as the atlas builds them, logit difference), or "prompt" against
    /// "source_prompt" of as many tokens (KL divergence from the prompt's next-token distribution). Nodes carry their
    /// roles from the model's saved atlas; "svg" is the drawing (<see cref="CircuitSvg"/>).
    /// </summary>
    public object Circuit(ApiRequest r, CancellationToken ct)
    {
        var m = Model(r.OptionalString("model"));
        string? task = r.OptionalString("task");
        TokenizedPairs pairs;
        MetricKind metric;
        if (task is not null)
        {
            var generator = TaskSets.Find(task)
                ?? throw ApiException.BadRequest($"\"task\" is \"{Clip(task)}\"; known task sets: {string.Join(", ", TaskSets.All.Select(g => g.Name))}");
            if (m.Loaded.Tokenizer is not { } tokenizer) throw ApiException.BadRequest($"model {m.Id} has no tokenizer, so task sets cannot be built; give \"prompt\" and \"source_prompt\" as token ids");
            pairs = AtlasCircuitRunner.PairsFor(m.Model, tokenizer, new AtlasOptions().ForModel(m.Loaded), generator);
            metric = MetricKind.LogitDiff;
        }
        else
        {
            var ids = PromptInput.Tokens(m, r, limits);
            var source = PromptInput.Tokens(m, r, limits, "source_prompt", "source_tokens");
            if (source.Length != ids.Length)
                throw ApiException.BadRequest($"a circuit compares prompts of equal length: \"source_prompt\" has {source.Length} tokens, \"prompt\" has {ids.Length}");
            int answer = ArgMax(NextTokenProbabilities(m, ids, null, ct)), wrong = ArgMax(NextTokenProbabilities(m, source, null, ct));
            pairs = new TokenizedPairs([ids], [source], [answer], [wrong]);
            metric = MetricKind.KlDivergence;
        }
        var found = SmallestFaithfulCircuit.Find(m.Model, pairs, metric, cancel: ct);
        var circuit = found.Circuit;
        var graph = circuit.Graph;
        var roles = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var h in m.SavedAtlas?.Heads ?? [])
            if (h.Labels.Count > 0) roles[$"a{h.Layer}.h{h.Head}"] = [.. h.Labels.Select(l => l.Type).Distinct()];
        string title = $"{task ?? "prompt vs source prompt"}: {circuit.EdgeCount} of {graph.EdgeCount} edges, faithfulness {found.Faithfulness.Value.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)}";
        return new
        {
            model = m.Id,
            task,
            method = circuit.Method,
            settings = circuit.Settings,
            pairs = pairs.Count,
            clean_metric = found.CleanMetric,
            corrupted_metric = found.CorruptedMetric,
            graph_edges = graph.EdgeCount,
            edges_kept = circuit.EdgeCount,
            faithfulness = found.Faithfulness.Value,
            reached_target = found.ReachedTarget,
            curve = found.Curve.Points.Select(p => new { fraction = p.Fraction, edges = p.Edges, faithfulness = p.Value }).ToArray(),
            nodes = circuit.Nodes.Select(n => graph.FindSender(n)!).OrderBy(s => s.Index)
                .Select(s => new { name = s.Name, layer = s.Layer, head = s.Head, roles = roles.TryGetValue(s.Name, out var rs) ? rs : [] }).ToArray(),
            edges = circuit.Edges.Select(e => new { sender = graph.Senders[graph.Edges[e].Sender].Name, receiver = graph.Receivers[graph.Edges[e].Receiver].Name, score = circuit.Scores[e] }).ToArray(),
            svg = CircuitSvg.Render(circuit, title, roles),
        };
    }

    private static float[] NextTokenProbabilities(ExplorerModel m, int[] ids, Func<HookSet, IDisposable>? intervene, CancellationToken ct)
    {
        var hooks = ComputeGate.CancellationHooks(m.Config, ct);
        intervene?.Invoke(hooks);
        var logits = m.Model.Run(TokenBatch.Single(ids), new ForwardOptions { Hooks = hooks, LastOnly = true }).Logits!.ToArray();
        RequireFinite(m, ids, logits);
        float max = logits.Max();
        double sum = 0;
        var p = new float[logits.Length];
        for (int i = 0; i < p.Length; i++) sum += p[i] = MathF.Exp(logits[i] - max);
        for (int i = 0; i < p.Length; i++) p[i] = (float)(p[i] / sum);
        return p;
    }

    /// <summary>
    /// Broken weights give NaN in what an endpoint computed: then the prompt is rerun with every hook point watched and
    /// the answer is 422 naming the first one with a non-finite value. Finite results cost one scan.
    /// </summary>
    private static void RequireFinite(ExplorerModel m, int[] ids, ReadOnlySpan<float> computed)
    {
        foreach (float v in computed)
            if (!float.IsFinite(v)) throw FiniteForward.Locate(m.Model, ids, $"model {m.Id}");
    }

    private static int ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private static IEnumerable<int> TopIds(float[] p, int k) => Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).Take(k);

    /// <summary>The head types an atlas (atlas.json as served) labels heads with or has detectors for.</summary>
    public static IEnumerable<string> AtlasTypeIds(System.Text.Json.JsonElement atlas)
    {
        static string? Text(System.Text.Json.JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString() : null;
        if (atlas.TryGetProperty("heads", out var heads))
            foreach (var head in heads.EnumerateArray())
                foreach (var label in head.GetProperty("labels").EnumerateArray())
                    if (Text(label, "type") is { } type) yield return type;
        if (atlas.TryGetProperty("detectors", out var detectors))
            foreach (var d in detectors.EnumerateArray())
                if ((Text(d, "head_type") ?? Text(d, "id")) is { } type) yield return type;
    }

    /// <summary>Echoes of user input in messages are cut short, so an error stays one readable line.</summary>
    internal static string Clip(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
