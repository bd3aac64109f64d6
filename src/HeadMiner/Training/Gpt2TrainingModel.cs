using HeadMiner.Models;
using HeadMiner.Models.Architectures;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Autodiff;

namespace HeadMiner.Training;

/// <summary>
/// A GPT-2-architecture model as trainable parameters and its loss as an autodiff graph: token + learned position
/// embeddings, pre-LayerNorm blocks (causal attention with biases, GELU-tanh MLP), final LayerNorm, unembedding tied
/// to the token embedding, mean next-token cross-entropy. Matrices are stored [in, out] (x·W), so the same tensors
/// are viewed in TransformerLens's layout by <see cref="ToTransformer"/> without copying: the inference model, hooks
/// and analyses always see the current weights, and <see cref="Export"/> writes a Hugging Face GPT-2 checkpoint.
/// </summary>
public sealed class Gpt2TrainingModel
{
    private readonly List<(string Name, Variable Value, bool Decay)> _parameters = [];
    private readonly Dictionary<string, Variable> _byName = [];

    public ModelConfig Config { get; }

    /// <summary>
    /// GPT-2 initialisation: matrices and embeddings ~ N(0, 0.02²), the two projections that write into the residual
    /// stream (W_O, W_out) scaled by 1/√(2·layers), biases 0, LayerNorm weights 1. Seeded: same seed, same model.
    /// </summary>
    public Gpt2TrainingModel(ModelConfig config, ulong seed)
    {
        if (config.Norm != NormKind.LayerNorm || config.Activation != MlpActivation.GeluTanh || !config.LearnedPositions
            || config.RotaryDim > 0 || config.KvHeads != config.Heads || config.ParallelAttnMlp || !config.TiedEmbeddings)
            throw new HeadMinerException($"the GPT-2 trainer needs a GPT-2-shaped config (LayerNorm, GELU-tanh, learned positions, tied embeddings, no GQA); got {config.Architecture}");
        config.Validate("training config");
        Config = config;
        var rng = new SeededRandom(seed);
        int d = config.DModel, m = config.DMlp;
        float residualStd = 0.02f / MathF.Sqrt(2 * config.Layers);
        Tensor Normal(float std, params int[] shape)
        {
            var t = Tensor.Zeros(shape);
            rng.FillNormal(t.Span, std);
            return t;
        }
        Add("wte", Normal(0.02f, config.VocabSize, d), decay: true);
        Add("wpe", Normal(0.02f, config.ContextLength, d), decay: true);
        for (int l = 0; l < config.Layers; l++)
        {
            Add($"{l}.ln1.w", Tensor.Full(1f, d), decay: false);
            Add($"{l}.ln1.b", Tensor.Zeros(d), decay: false);
            foreach (var part in new[] { "q", "k", "v" })
            {
                Add($"{l}.W_{part}", Normal(0.02f, d, d), decay: true);
                Add($"{l}.b_{part}", Tensor.Zeros(d), decay: false);
            }
            Add($"{l}.W_O", Normal(residualStd, d, d), decay: true);
            Add($"{l}.b_O", Tensor.Zeros(d), decay: false);
            Add($"{l}.ln2.w", Tensor.Full(1f, d), decay: false);
            Add($"{l}.ln2.b", Tensor.Zeros(d), decay: false);
            Add($"{l}.W_in", Normal(0.02f, d, m), decay: true);
            Add($"{l}.b_in", Tensor.Zeros(m), decay: false);
            Add($"{l}.W_out", Normal(residualStd, m, d), decay: true);
            Add($"{l}.b_out", Tensor.Zeros(d), decay: false);
        }
        Add("ln_f.w", Tensor.Full(1f, d), decay: false);
        Add("ln_f.b", Tensor.Zeros(d), decay: false);
    }

    private void Add(string name, Tensor value, bool decay)
    {
        var p = Variable.Parameter(value);
        _parameters.Add((name, p, decay));
        _byName[name] = p;
    }

    private Variable P(string name) => _byName[name];

    /// <summary>Every parameter with its gradient buffer, for the optimizer (biases and norm weights are not decayed).</summary>
    public IReadOnlyList<TrainableParameter> TrainableParameters()
    {
        var result = new List<TrainableParameter>();
        foreach (var (name, value, decay) in _parameters)
        {
            value.AccumulatingGradient(); // allocate now: the optimizer holds the gradient tensor from the start
            result.Add(new TrainableParameter(name, value.Value, value.Gradient!, decay));
        }
        return result;
    }

    public long ParameterCount => _parameters.Sum(p => (long)p.Value.Value.Length);

    public void ZeroGradients()
    {
        foreach (var (_, value, _) in _parameters) value.ZeroGradient();
    }

    /// <summary>
    /// Mean cross-entropy of predicting <paramref name="targets"/> ([sequences·length], ignore index allowed) from
    /// <paramref name="ids"/> ([sequences·length], row-major), recorded on <paramref name="tape"/>.
    /// </summary>
    public Variable Loss(Tape tape, int[] ids, int sequences, int length, int[] targets)
    {
        if (ids.Length != sequences * length || targets.Length != ids.Length)
            throw new HeadMinerException($"{ids.Length} ids and {targets.Length} targets for {sequences} sequences of {length}");
        if (length > Config.ContextLength) throw new HeadMinerException($"training sequences of {length} tokens exceed the context length {Config.ContextLength}");
        var c = Config;
        var positions = new int[ids.Length];
        for (int i = 0; i < ids.Length; i++) positions[i] = i % length;
        var x = Ops.Add(tape, Ops.Embedding(tape, P("wte"), ids), Ops.Embedding(tape, P("wpe"), positions));
        for (int l = 0; l < c.Layers; l++)
        {
            var n1 = Ops.LayerNorm(tape, x, P($"{l}.ln1.w"), P($"{l}.ln1.b"), c.NormEps);
            var q = Ops.AddRowBias(tape, Ops.MatMul(tape, n1, P($"{l}.W_q")), P($"{l}.b_q"));
            var k = Ops.AddRowBias(tape, Ops.MatMul(tape, n1, P($"{l}.W_k")), P($"{l}.b_k"));
            var v = Ops.AddRowBias(tape, Ops.MatMul(tape, n1, P($"{l}.W_v")), P($"{l}.b_v"));
            var z = Ops.CausalAttention(tape, q, k, v, sequences, c.Heads, c.Heads, c.DHead, c.AttentionScale);
            x = Ops.Add(tape, x, Ops.AddRowBias(tape, Ops.MatMul(tape, z, P($"{l}.W_O")), P($"{l}.b_O")));
            var n2 = Ops.LayerNorm(tape, x, P($"{l}.ln2.w"), P($"{l}.ln2.b"), c.NormEps);
            var h = Ops.GeluTanh(tape, Ops.AddRowBias(tape, Ops.MatMul(tape, n2, P($"{l}.W_in")), P($"{l}.b_in")));
            x = Ops.Add(tape, x, Ops.AddRowBias(tape, Ops.MatMul(tape, h, P($"{l}.W_out")), P($"{l}.b_out")));
        }
        var final = Ops.LayerNorm(tape, x, P("ln_f.w"), P("ln_f.b"), c.NormEps);
        var logits = Ops.MatMul(tape, final, P("wte"), transposeW: true);
        return Ops.CrossEntropy(tape, logits, targets);
    }

    /// <summary>The canonical (TransformerLens-layout) weights as views over the live parameters: no copy.</summary>
    public TransformerWeights CanonicalWeights()
    {
        int h = Config.Heads, dh = Config.DHead;
        var blocks = new LayerWeights[Config.Layers];
        for (int l = 0; l < Config.Layers; l++)
        {
            blocks[l] = new LayerWeights(l, "training")
            {
                Ln1Weight = P($"{l}.ln1.w").Value,
                Ln1Bias = P($"{l}.ln1.b").Value,
                W_Q = LayoutViews.HeadsFromInOut(P($"{l}.W_q").Value, 0, h, dh),
                W_K = LayoutViews.HeadsFromInOut(P($"{l}.W_k").Value, 0, h, dh),
                W_V = LayoutViews.HeadsFromInOut(P($"{l}.W_v").Value, 0, h, dh),
                b_Q = LayoutViews.HeadBias(P($"{l}.b_q").Value, 0, h, dh),
                b_K = LayoutViews.HeadBias(P($"{l}.b_k").Value, 0, h, dh),
                b_V = LayoutViews.HeadBias(P($"{l}.b_v").Value, 0, h, dh),
                W_O = LayoutViews.OutputFromInOut(P($"{l}.W_O").Value, h, dh),
                b_O = P($"{l}.b_O").Value,
                Ln2Weight = P($"{l}.ln2.w").Value,
                Ln2Bias = P($"{l}.ln2.b").Value,
                W_in = P($"{l}.W_in").Value,
                b_in = P($"{l}.b_in").Value,
                W_out = P($"{l}.W_out").Value,
                b_out = P($"{l}.b_out").Value,
            };
        }
        var wte = P("wte").Value;
        return new TransformerWeights("training", blocks)
        {
            W_E = wte,
            W_U = wte.Transpose(0, 1),
            W_pos = P("wpe").Value,
            LnFinalWeight = P("ln_f.w").Value,
            LnFinalBias = P("ln_f.b").Value,
        };
    }

    /// <summary>
    /// Copies <paramref name="source"/> (e.g. a checkpoint loaded with <c>ModelLoader</c>, no weight processing) into
    /// the parameters through the same views <see cref="CanonicalWeights"/> gives, so export → load → copy is exact.
    /// Every tensor must be present with the same shape; a mismatch names the tensor.
    /// </summary>
    public void LoadWeights(TransformerWeights source)
    {
        var target = CanonicalWeights();
        static void Copy(Tensor? from, Tensor to, string name)
        {
            if (from is null) throw new HeadMinerException($"checkpoint: {name} is missing");
            if (!from.Shape.SequenceEqual(to.Shape)) throw new HeadMinerException($"checkpoint: {name} has shape {from.ShapeString}, the model needs {to.ShapeString}");
            from.CopyTo(to);
        }
        Copy(source.W_E, target.W_E, "W_E");
        Copy(source.W_pos, target.W_pos!, "W_pos");
        Copy(source.LnFinalWeight, target.LnFinalWeight!, "ln_final.w");
        Copy(source.LnFinalBias, target.LnFinalBias!, "ln_final.b");
        if (source.Blocks.Length != target.Blocks.Length) throw new HeadMinerException($"checkpoint: {source.Blocks.Length} layers, the model has {target.Blocks.Length}");
        for (int l = 0; l < target.Blocks.Length; l++)
        {
            LayerWeights from = source.Blocks[l], to = target.Blocks[l];
            string b = $"blocks.{l}.";
            Copy(from.Ln1Weight, to.Ln1Weight!, b + "ln1.w");
            Copy(from.Ln1Bias, to.Ln1Bias!, b + "ln1.b");
            Copy(from.W_Q, to.W_Q, b + "attn.W_Q");
            Copy(from.W_K, to.W_K, b + "attn.W_K");
            Copy(from.W_V, to.W_V, b + "attn.W_V");
            Copy(from.W_O, to.W_O, b + "attn.W_O");
            Copy(from.b_Q, to.b_Q!, b + "attn.b_Q");
            Copy(from.b_K, to.b_K!, b + "attn.b_K");
            Copy(from.b_V, to.b_V!, b + "attn.b_V");
            Copy(from.b_O, to.b_O!, b + "attn.b_O");
            Copy(from.Ln2Weight, to.Ln2Weight!, b + "ln2.w");
            Copy(from.Ln2Bias, to.Ln2Bias!, b + "ln2.b");
            Copy(from.W_in, to.W_in, b + "mlp.W_in");
            Copy(from.b_in, to.b_in!, b + "mlp.b_in");
            Copy(from.W_out, to.W_out, b + "mlp.W_out");
            Copy(from.b_out, to.b_out!, b + "mlp.b_out");
        }
    }

    /// <summary>An inference model over the live parameters (hooks, caches and analyses see training as it goes).</summary>
    public Transformer ToTransformer(string source = "training") => new(Config, CanonicalWeights(), source);

    /// <summary>Hugging Face GPT-2 tensors (fused c_attn, Conv1D layout) and config.json for the current weights.</summary>
    public (Dictionary<string, Tensor> Tensors, string ConfigJson) Export() =>
        (Gpt2Export.Tensors(Config, CanonicalWeights()), Gpt2Export.ConfigJson(Config));
}
