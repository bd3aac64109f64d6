using HeadMiner.Tensors;
using HeadMiner.Tensors.Autodiff;
using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;
using Xunit.Abstractions;
using static HeadMiner.Tests.Autodiff.FiniteDifference;
using RotaryKernel = HeadMiner.Tensors.Kernels.Rotary;

namespace HeadMiner.Tests.Autodiff;

/// <summary>
/// Every autodiff op's gradients against central finite differences of an independent double-precision version of
/// the op (<see cref="DoubleReference"/>), and a whole tiny GPT-2-style model against finite differences of the same
/// model in double (<see cref="TinyGpt"/>).
/// </summary>
public class GradientCheckTests(ITestOutputHelper output)
{
    private const double MaxRelativeError = 1e-3;

    private static Variable Parameter(ulong seed, float std, params int[] shape) => Variable.Parameter(Tensor.RandomNormal(seed, std, shape));

    // ---- linear -----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MatMul(bool transposeW)
    {
        const int rows = 5, input = 7, outputs = 3;
        var x = Parameter(1, 1f, rows, input);
        var w = transposeW ? Parameter(2, 1f, outputs, input) : Parameter(2, 1f, input, outputs);
        CheckOp($"MatMul(transposeW: {transposeW})", [x, w], tape => Ops.MatMul(tape, x, w, transposeW),
            v => DoubleReference.MatMul(v[0], v[1], rows, input, outputs, transposeW), seed: 3);
    }

    [Fact]
    public void MatMul_with_constant_input_gives_only_the_weight_a_gradient()
    {
        var x = Variable.Constant(Tensor.RandomNormal(4, 1f, 3, 5));
        var w = Parameter(5, 1f, 5, 7);
        CheckOp("MatMul(constant x)", [x, w], tape => Ops.MatMul(tape, x, w), v => DoubleReference.MatMul(v[0], v[1], 3, 5, 7, false), seed: 6);
    }

    [Fact]
    public void Add()
    {
        var a = Parameter(7, 1f, 3, 5);
        var b = Parameter(8, 1f, 3, 5);
        CheckOp("Add", [a, b], tape => Ops.Add(tape, a, b), v => DoubleReference.Add(v[0], v[1]), seed: 9);
    }

    [Fact]
    public void Add_of_a_variable_to_itself_accumulates_both_paths()
    {
        var a = Parameter(10, 1f, 4, 3);
        CheckOp("Add(a, a)", [a], tape => Ops.Add(tape, a, a), v => DoubleReference.Add(v[0], v[0]), seed: 11);
    }

    [Fact]
    public void AddRowBias()
    {
        var x = Parameter(12, 1f, 5, 7);
        var bias = Parameter(13, 1f, 7);
        CheckOp("AddRowBias", [x, bias], tape => Ops.AddRowBias(tape, x, bias), v => DoubleReference.AddRowBias(v[0], v[1]), seed: 14);
    }

    [Fact]
    public void GatherRows_accumulates_a_row_picked_twice()
    {
        const int width = 5;
        var x = Parameter(15, 1f, 7, width);
        int[] rows = [6, 2, 6, 0];
        CheckOp("GatherRows", [x], tape => Ops.GatherRows(tape, x, rows),
            v => rows.SelectMany(r => v[0].Skip(r * width).Take(width)).ToArray(), seed: 16);
    }

    // ---- norms ------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public void LayerNorm(bool hasWeight, bool hasBias)
    {
        const int dim = 7;
        const float eps = 1e-5f;
        var x = Parameter(20, 1.5f, 3, dim);
        var weight = hasWeight ? Parameter(21, 1f, dim) : null;
        var bias = hasBias ? Parameter(22, 1f, dim) : null;
        Variable[] inputs = [x, .. new[] { weight, bias }.OfType<Variable>()];
        CheckOp($"LayerNorm(weight: {hasWeight}, bias: {hasBias})", inputs, tape => Ops.LayerNorm(tape, x, weight, bias, eps),
            v => DoubleReference.LayerNorm(v[0], hasWeight ? v[1] : null, hasBias ? v[2] : null, dim, eps), seed: 23);
    }

    [Fact]
    public void LayerNorm_with_constant_input_still_gives_weight_and_bias_gradients()
    {
        var x = Variable.Constant(Tensor.RandomNormal(24, 1f, 4, 5));
        var weight = Parameter(25, 1f, 5);
        var bias = Parameter(26, 1f, 5);
        CheckOp("LayerNorm(constant x)", [x, weight, bias], tape => Ops.LayerNorm(tape, x, weight, bias, 1e-5f),
            v => DoubleReference.LayerNorm(v[0], v[1], v[2], 5, 1e-5), seed: 27);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RmsNorm(bool hasWeight)
    {
        const int dim = 7;
        const float eps = 1e-6f;
        var x = Parameter(30, 1.5f, 3, dim);
        var weight = hasWeight ? Parameter(31, 1f, dim) : null;
        Variable[] inputs = hasWeight ? [x, weight!] : [x];
        CheckOp($"RmsNorm(weight: {hasWeight})", inputs, tape => Ops.RmsNorm(tape, x, weight, eps),
            v => DoubleReference.RmsNorm(v[0], hasWeight ? v[1] : null, dim, eps), seed: 32);
    }

    // ---- activations ------------------------------------------------------------------------------------------

    [Fact]
    public void GeluTanh()
    {
        var x = Parameter(40, 2f, 3, 7);
        CheckOp("GeluTanh", [x], tape => Ops.GeluTanh(tape, x), v => v[0].Select(DoubleReference.GeluTanh).ToArray(), seed: 41);
    }

    [Fact]
    public void GeluErf()
    {
        var x = Parameter(42, 2f, 3, 7);
        CheckOp("GeluErf", [x], tape => Ops.GeluErf(tape, x), v => v[0].Select(DoubleReference.GeluErf).ToArray(), seed: 43);
    }

    [Fact]
    public void Silu()
    {
        var x = Parameter(44, 2f, 3, 7);
        CheckOp("Silu", [x], tape => Ops.Silu(tape, x), v => v[0].Select(DoubleReference.Silu).ToArray(), seed: 45);
    }

    [Fact]
    public void SwiGlu()
    {
        var gate = Parameter(46, 2f, 3, 7);
        var up = Parameter(47, 1f, 3, 7);
        CheckOp("SwiGlu", [gate, up], tape => Ops.SwiGlu(tape, gate, up), v => DoubleReference.SwiGlu(v[0], v[1]), seed: 48);
    }

    [Fact]
    public void SwiGlu_of_one_variable_as_gate_and_up()
    {
        var a = Parameter(49, 1.5f, 5, 3);
        CheckOp("SwiGlu(a, a)", [a], tape => Ops.SwiGlu(tape, a, a), v => DoubleReference.SwiGlu(v[0], v[0]), seed: 50);
    }

    // ---- positions and embeddings -----------------------------------------------------------------------------

    [Theory]
    [InlineData(RotaryStyle.RotateHalf)]
    [InlineData(RotaryStyle.Interleaved)]
    public void Rotary(RotaryStyle style)
    {
        const int heads = 3, headDim = 6, rotaryDim = 4, maxPositions = 8; // partial rotary: dims 4..5 pass through
        int[] positions = [0, 3, 1, 7, 2];
        var inverseFrequencies = RotaryKernel.DefaultInverseFrequencies(rotaryDim, theta: 10);
        var cos = new float[maxPositions * rotaryDim / 2];
        var sin = new float[cos.Length];
        RotaryKernel.BuildTables(maxPositions, inverseFrequencies, cos, sin);
        var x = Parameter(60, 1f, positions.Length, heads * headDim);
        CheckOp($"Rotary({style})", [x], tape => Ops.Rotary(tape, x, heads, headDim, rotaryDim, cos, sin, positions, style),
            v => DoubleReference.Rotary(v[0], heads, headDim, rotaryDim, cos, sin, positions, style == RotaryStyle.Interleaved), seed: 61);
    }

    [Fact]
    public void Embedding_with_repeated_ids()
    {
        const int vocab = 7, dim = 5;
        int[] ids = [3, 1, 3, 6, 0, 3];
        var table = Parameter(70, 1f, vocab, dim);
        CheckOp("Embedding", [table], tape => Ops.Embedding(tape, table, ids), v => DoubleReference.Embedding(v[0], dim, ids), seed: 71);
    }

    // ---- attention --------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(4, 4, 0, false)]
    [InlineData(4, 2, 0, false)] // grouped-query: two query heads per k/v head
    [InlineData(3, 1, 2, true)]  // multi-query, sliding window of 2, left padding in the second sequence
    public void CausalAttention(int heads, int kvHeads, int slidingWindow, bool padded)
    {
        const int sequences = 2, tokens = 5, headDim = 3;
        int rows = sequences * tokens;
        float scale = 1f / MathF.Sqrt(headDim);
        bool[]? keyValid = padded ? Enumerable.Range(0, rows).Select(r => r != tokens && r != tokens + 1).ToArray() : null;
        var q = Parameter(80, 1f, rows, heads * headDim);
        var k = Parameter(81, 1f, rows, kvHeads * headDim);
        var v = Parameter(82, 1f, rows, kvHeads * headDim);
        CheckOp($"CausalAttention(heads {heads}, kv {kvHeads}, window {slidingWindow}, padded {padded})", [q, k, v],
            tape => Ops.CausalAttention(tape, q, k, v, sequences, heads, kvHeads, headDim, scale, slidingWindow, keyValid),
            x => DoubleReference.CausalAttention(x[0], x[1], x[2], sequences, heads, kvHeads, headDim, scale, slidingWindow, keyValid), seed: 83);
    }

    [Fact]
    public void CausalAttention_with_constant_keys_and_values()
    {
        const int heads = 2, headDim = 3, tokens = 4;
        var q = Parameter(84, 1f, tokens, heads * headDim);
        var k = Variable.Constant(Tensor.RandomNormal(85, 1f, tokens, heads * headDim));
        var v = Variable.Constant(Tensor.RandomNormal(86, 1f, tokens, heads * headDim));
        CheckOp("CausalAttention(constant k, v)", [q, k, v],
            tape => Ops.CausalAttention(tape, q, k, v, 1, heads, heads, headDim, 0.5f),
            x => DoubleReference.CausalAttention(x[0], x[1], x[2], 1, heads, heads, headDim, 0.5, 0, null), seed: 87);
    }

    // ---- loss -------------------------------------------------------------------------------------------------

    [Fact]
    public void CrossEntropy_mean_over_rows_not_ignored()
    {
        const int rows = 6, vocab = 9;
        int[] targets = [4, 0, CrossEntropy.DefaultIgnoreIndex, 8, 4, 1];
        var logits = Parameter(90, 2f, rows, vocab);
        CheckOp("CrossEntropy", [logits], tape => Ops.CrossEntropy(tape, logits, targets),
            v => [DoubleReference.CrossEntropy(v[0], vocab, targets, CrossEntropy.DefaultIgnoreIndex)], seed: 91);
        Assert.All(logits.Gradient!.ToArray().Skip(2 * vocab).Take(vocab), g => Assert.Equal(0f, g)); // the ignored row
    }

    // ---- the tape itself --------------------------------------------------------------------------------------

    [Fact]
    public void Ops_on_constants_record_nothing_and_allocate_no_gradient()
    {
        var tape = new Tape();
        var x = Variable.Constant(Tensor.RandomNormal(100, 1f, 4, 6));
        var w = Variable.Constant(Tensor.RandomNormal(101, 1f, 6, 6));
        var y = Ops.CausalAttention(tape, x, x, Ops.GeluTanh(tape, Ops.MatMul(tape, x, w)), 2, 2, 2, 3, 0.5f);
        var loss = Ops.CrossEntropy(tape, Ops.LayerNorm(tape, y, null, null, 1e-5f), [0, 1, 2, 3]);
        Assert.Equal(0, tape.Count);
        Assert.False(loss.RequiresGradient);
        tape.Backward(loss);
        Assert.Null(x.Gradient);
        Assert.Null(w.Gradient);
    }

    [Fact]
    public void Backward_from_a_non_scalar_without_an_output_gradient_is_an_error()
    {
        var tape = new Tape();
        var y = Ops.GeluTanh(tape, Parameter(102, 1f, 2, 3));
        Assert.Throws<ArgumentException>(() => tape.Backward(y));
    }

    [Fact]
    public void Gradients_accumulate_over_backward_passes_until_zeroed()
    {
        var w = Parameter(103, 1f, 3, 4);
        var x = Variable.Constant(Tensor.RandomNormal(104, 1f, 2, 3));
        float[] Step()
        {
            var tape = new Tape();
            tape.Backward(Ops.CrossEntropy(tape, Ops.MatMul(tape, x, w), [1, 3]));
            return w.Gradient!.ToArray();
        }
        var once = Step();
        var twice = Step();
        for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], twice[i], 1e-6f);
        w.ZeroGradient();
        Assert.Equal(once, Step());
    }

    // ---- whole model ------------------------------------------------------------------------------------------

    [Fact]
    public void Tiny_gpt2_gradients_of_every_parameter_match_finite_differences_of_the_double_model()
    {
        var model = TinyGpt.Random(seed: 200);
        var rng = new SeededRandom(201);
        int rows = TinyGpt.Sequences * TinyGpt.Context;
        var ids = Enumerable.Range(0, rows).Select(_ => rng.NextInt(TinyGpt.Vocab)).ToArray();
        var targets = Enumerable.Range(0, rows).Select(_ => rng.NextInt(TinyGpt.Vocab)).ToArray();
        targets[rows - 1] = CrossEntropy.DefaultIgnoreIndex;

        var tape = new Tape();
        var loss = model.Loss(tape, ids, targets);
        tape.Backward(loss);

        var values = model.Parameters.ToDictionary(p => p.Name, p => ToDouble(p.Value.Value.Span));
        double expectedLoss = TinyGpt.Loss(values, ids, targets);
        Assert.Equal(expectedLoss, loss.Value.Span[0], 1e-4);

        string[] names = model.Parameters.Select(p => p.Name).ToArray();
        var arrays = names.Select(n => values[n]).ToArray();
        double Loss(double[][] a) => TinyGpt.Loss(names.Select((n, i) => (n, a[i])).ToDictionary(t => t.n, t => t.Item2), ids, targets);

        double worst = 0;
        string worstAt = "";
        const int entriesPerTensor = 5;
        double largest = model.Parameters.Max(p => MaxAbs(p.Value.Gradient!.Span));
        for (int p = 0; p < names.Length; p++)
        {
            var gradient = model.Parameters[p].Value.Gradient;
            Assert.True(gradient is not null, $"{names[p]} received no gradient");
            var g = gradient.Span;
            if (names[p].EndsWith(".b_k", StringComparison.Ordinal))
            {
                // Exactly zero in exact arithmetic: b_k adds q·b_k to every score of a query row, and softmax ignores a
                // constant shift. The tape must give float noise only.
                Assert.True(MaxAbs(g) <= 1e-5 * largest, $"{names[p]}: gradient {MaxAbs(g):G3} should vanish");
                Assert.True(Math.Abs(FiniteDifference.Derivative(Loss, arrays, p, 0)) <= 1e-9, $"{names[p]}: finite difference should vanish");
                continue;
            }
            double floor = 1e-3 * MaxAbs(g);
            Assert.True(floor > 0, $"{names[p]}'s gradient is all zero");
            for (int e = 0; e < entriesPerTensor; e++)
            {
                int index = rng.NextInt(g.Length);
                double numeric = FiniteDifference.Derivative(Loss, arrays, p, index);
                double error = RelativeError(g[index], numeric, floor);
                if (error > worst) (worst, worstAt) = (error, $"{names[p]}[{index}]: tape {g[index]:G6}, finite difference {numeric:G6}");
            }
        }
        output.WriteLine($"tiny GPT-2, {names.Length} tensors × {entriesPerTensor} entries: max relative error {worst:E2} at {worstAt}");
        Assert.True(worst <= MaxRelativeError, $"max relative error {worst:E2} at {worstAt}");
    }

    [Fact]
    public void Tiny_gpt2_loss_falls_under_plain_gradient_descent()
    {
        var model = TinyGpt.Random(seed: 300);
        var rng = new SeededRandom(301);
        int rows = TinyGpt.Sequences * TinyGpt.Context;
        var ids = Enumerable.Range(0, rows).Select(_ => rng.NextInt(TinyGpt.Vocab)).ToArray();
        var targets = Enumerable.Range(0, rows).Select(_ => rng.NextInt(TinyGpt.Vocab)).ToArray();
        var tape = new Tape();
        float first = 0, last = 0;
        for (int step = 0; step < 40; step++)
        {
            tape.Clear();
            foreach (var (_, p) in model.Parameters) p.ZeroGradient();
            var loss = model.Loss(tape, ids, targets);
            tape.Backward(loss);
            if (step == 0) first = loss.Value.Span[0];
            last = loss.Value.Span[0];
            foreach (var (_, p) in model.Parameters) Elementwise.Axpy(-0.2f, p.Gradient!.Span, p.Value.Span);
        }
        output.WriteLine($"40 SGD steps: loss {first:F4} -> {last:F4}");
        Assert.True(last < 0.5f * first, $"loss went from {first} to {last}");
    }

    // ---- helper -----------------------------------------------------------------------------------------------

    /// <summary>
    /// Runs the op on a tape, checks its forward value against the double reference, back-propagates a fixed random
    /// output gradient r (or 1 for a scalar), and compares every trainable input's gradient, element by element, with
    /// the finite-difference gradient of Σ r·reference(inputs). Constant inputs must receive no gradient.
    /// </summary>
    private void CheckOp(string name, Variable[] inputs, Func<Tape, Variable> build, Func<double[][], double[]> reference, ulong seed)
    {
        var tape = new Tape();
        var y = build(tape);
        var x = inputs.Select(v => ToDouble(v.Value.Span)).ToArray();
        Close.Scaled(y.Value.Span, reference(x), 1e-4, $"{name} forward");

        double[] outputGradient;
        if (y.Value.Length == 1)
        {
            tape.Backward(y);
            outputGradient = [1];
        }
        else
        {
            var r = Tensor.RandomNormal(seed, 1f, y.Value.Shape.ToArray());
            tape.Backward(y, r);
            outputGradient = ToDouble(r.Span);
        }
        double Loss(double[][] values) => Dot(reference(values), outputGradient);

        double worst = 0;
        string worstAt = "";
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!inputs[i].RequiresGradient)
            {
                Assert.Null(inputs[i].Gradient);
                continue;
            }
            Assert.True(inputs[i].Gradient is not null, $"{name}: input {i} received no gradient");
            var g = inputs[i].Gradient!.Span;
            var numeric = new double[g.Length];
            for (int e = 0; e < g.Length; e++) numeric[e] = FiniteDifference.Derivative(Loss, x, i, e);
            double floor = 1e-3 * numeric.Max(Math.Abs);
            for (int e = 0; e < g.Length; e++)
            {
                double error = RelativeError(g[e], numeric[e], floor);
                if (error > worst) (worst, worstAt) = (error, $"input {i}[{e}]: tape {g[e]:G6}, finite difference {numeric[e]:G6}");
            }
        }
        output.WriteLine($"{name}: max relative error {worst:E2}");
        Assert.True(worst <= MaxRelativeError, $"{name}: max relative error {worst:E2} at {worstAt}");
    }
}
