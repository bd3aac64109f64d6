using HeadMiner.Tensors;
using HeadMiner.Tensors.Autodiff;

namespace HeadMiner.Tests.Autodiff;

/// <summary>
/// A 2-layer GPT-2-style model small enough to finite-difference: token + learned position embeddings, pre-LayerNorm
/// blocks (causal attention with biases, GELU-tanh MLP), final LayerNorm and an unembedding tied to W_E, trained with
/// mean cross-entropy. <see cref="Loss(Tape, int[], int[])"/> builds it from autodiff ops in float;
/// <see cref="Loss(IReadOnlyDictionary{string, double[]}, int[], int[])"/> is the same model in double, written with
/// <see cref="DoubleReference"/> only.
/// </summary>
internal sealed class TinyGpt
{
    public const int Vocab = 11, Context = 5, Dim = 9, Heads = 3, HeadDim = 3, Mlp = 13, Layers = 2, Sequences = 2;
    public const float Eps = 1e-5f;
    private static readonly float Scale = 1f / MathF.Sqrt(HeadDim);

    private readonly Dictionary<string, Variable> _byName = [];

    /// <summary>Every trainable tensor, in creation order.</summary>
    public List<(string Name, Variable Value)> Parameters { get; } = [];

    public static TinyGpt Random(ulong seed)
    {
        var model = new TinyGpt();
        ulong next = seed;
        void Add(string name, float std, float mean, params int[] shape)
        {
            var t = Tensor.RandomNormal(next++, std, shape);
            foreach (ref float v in t.Span) v += mean;
            var p = Variable.Parameter(t);
            model.Parameters.Add((name, p));
            model._byName[name] = p;
        }
        Add("W_E", 0.5f, 0, Vocab, Dim);
        Add("W_pos", 0.3f, 0, Context, Dim);
        for (int l = 0; l < Layers; l++)
        {
            Add($"{l}.ln1.w", 0.1f, 1, Dim);
            Add($"{l}.ln1.b", 0.1f, 0, Dim);
            foreach (string m in new[] { "q", "k", "v" })
            {
                Add($"{l}.W_{m}", 0.4f, 0, Dim, Dim);
                Add($"{l}.b_{m}", 0.1f, 0, Dim);
            }
            Add($"{l}.W_O", 0.3f, 0, Dim, Dim);
            Add($"{l}.b_O", 0.1f, 0, Dim);
            Add($"{l}.ln2.w", 0.1f, 1, Dim);
            Add($"{l}.ln2.b", 0.1f, 0, Dim);
            Add($"{l}.W_in", 0.4f, 0, Dim, Mlp);
            Add($"{l}.b_in", 0.1f, 0, Mlp);
            Add($"{l}.W_out", 0.3f, 0, Mlp, Dim);
            Add($"{l}.b_out", 0.1f, 0, Dim);
        }
        Add("ln_final.w", 0.1f, 1, Dim);
        Add("ln_final.b", 0.1f, 0, Dim);
        return model;
    }

    public static int[] Positions()
    {
        var positions = new int[Sequences * Context];
        for (int i = 0; i < positions.Length; i++) positions[i] = i % Context;
        return positions;
    }

    /// <summary>Mean next-token loss of <see cref="Sequences"/> sequences of <see cref="Context"/> ids, from ops on the tape.</summary>
    public Variable Loss(Tape tape, int[] ids, int[] targets)
    {
        Variable P(string name) => _byName[name];
        Variable Linear(Variable x, string w, string b) => Ops.AddRowBias(tape, Ops.MatMul(tape, x, P(w)), P(b));

        var x = Ops.Add(tape, Ops.Embedding(tape, P("W_E"), ids), Ops.Embedding(tape, P("W_pos"), Positions()));
        for (int l = 0; l < Layers; l++)
        {
            var n1 = Ops.LayerNorm(tape, x, P($"{l}.ln1.w"), P($"{l}.ln1.b"), Eps);
            var z = Ops.CausalAttention(tape, Linear(n1, $"{l}.W_q", $"{l}.b_q"), Linear(n1, $"{l}.W_k", $"{l}.b_k"),
                Linear(n1, $"{l}.W_v", $"{l}.b_v"), Sequences, Heads, Heads, HeadDim, Scale);
            x = Ops.Add(tape, x, Linear(z, $"{l}.W_O", $"{l}.b_O"));
            var n2 = Ops.LayerNorm(tape, x, P($"{l}.ln2.w"), P($"{l}.ln2.b"), Eps);
            x = Ops.Add(tape, x, Linear(Ops.GeluTanh(tape, Linear(n2, $"{l}.W_in", $"{l}.b_in")), $"{l}.W_out", $"{l}.b_out"));
        }
        var final = Ops.LayerNorm(tape, x, P("ln_final.w"), P("ln_final.b"), Eps);
        return Ops.CrossEntropy(tape, Ops.MatMul(tape, final, P("W_E"), transposeW: true), targets);
    }

    /// <summary>The same loss in double from parameter values by name.</summary>
    public static double Loss(IReadOnlyDictionary<string, double[]> p, int[] ids, int[] targets)
    {
        int rows = ids.Length;
        double[] Linear(double[] x, int input, int output, string w, string b) =>
            DoubleReference.AddRowBias(DoubleReference.MatMul(x, p[w], rows, input, output, transposeW: false), p[b]);

        var x = DoubleReference.Add(DoubleReference.Embedding(p["W_E"], Dim, ids), DoubleReference.Embedding(p["W_pos"], Dim, Positions()));
        for (int l = 0; l < Layers; l++)
        {
            var n1 = DoubleReference.LayerNorm(x, p[$"{l}.ln1.w"], p[$"{l}.ln1.b"], Dim, Eps);
            var z = DoubleReference.CausalAttention(Linear(n1, Dim, Dim, $"{l}.W_q", $"{l}.b_q"), Linear(n1, Dim, Dim, $"{l}.W_k", $"{l}.b_k"),
                Linear(n1, Dim, Dim, $"{l}.W_v", $"{l}.b_v"), Sequences, Heads, Heads, HeadDim, Scale, 0, null);
            x = DoubleReference.Add(x, Linear(z, Dim, Dim, $"{l}.W_O", $"{l}.b_O"));
            var n2 = DoubleReference.LayerNorm(x, p[$"{l}.ln2.w"], p[$"{l}.ln2.b"], Dim, Eps);
            var hidden = Linear(n2, Dim, Mlp, $"{l}.W_in", $"{l}.b_in").Select(DoubleReference.GeluTanh).ToArray();
            x = DoubleReference.Add(x, Linear(hidden, Mlp, Dim, $"{l}.W_out", $"{l}.b_out"));
        }
        var final = DoubleReference.LayerNorm(x, p["ln_final.w"], p["ln_final.b"], Dim, Eps);
        var logits = DoubleReference.MatMul(final, p["W_E"], rows, Dim, Vocab, transposeW: true);
        return DoubleReference.CrossEntropy(logits, Vocab, targets, HeadMiner.Tensors.Kernels.CrossEntropy.DefaultIgnoreIndex);
    }
}
