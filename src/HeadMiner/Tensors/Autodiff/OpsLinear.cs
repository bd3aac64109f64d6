using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tensors.Autodiff;

public static partial class Ops
{
    /// <summary>
    /// y = x · W for x [rows…, in] and W [in, out]; with <paramref name="transposeW"/>, W is [out, in] and y = x · Wᵀ
    /// (a tied unembedding reads the embedding table this way). Backward: dx += dy · Wᵀ, dW += xᵀ · dy, both GEMMs
    /// with beta = 1 so they accumulate straight into the gradients.
    /// </summary>
    public static Variable MatMul(Tape tape, Variable x, Variable w, bool transposeW = false)
    {
        ArgumentNullException.ThrowIfNull(tape);
        int input = Features(x, nameof(x));
        if (w.Value.Rank != 2) throw new ArgumentException($"weight has shape {w.Value.ShapeString}, expected a matrix", nameof(w));
        int wIn = transposeW ? w.Value.Dim(1) : w.Value.Dim(0), output = transposeW ? w.Value.Dim(0) : w.Value.Dim(1);
        if (wIn != input) throw new ArgumentException($"x has {input} features but weight {w.Value.ShapeString}{(transposeW ? " (transposed)" : "")} expects {wIn}", nameof(w));
        int rows = x.Value.Length / Math.Max(input, 1);
        var y = Result(tape, WithFeatures(x, output), x, w);
        int ldw = w.Value.Dim(1);
        // A constant 16-bit weight (a mapped BF16/F16 checkpoint matrix) stays 16-bit: the GEMM widens it while packing,
        // in the forward product and in dx alike; a trainable weight is float32 (it has a float32 gradient anyway).
        var half = w.RequiresGradient ? null : w.Value.Half;
        if (half is not null)
            Gemm.Multiply(false, transposeW, rows, output, input, 1f, x.Value.Span, input, half.Bits.Span[w.Value.Offset..], half.Format, ldw, 0f, y.Value.Span, output);
        else
            Gemm.Multiply(false, transposeW, rows, output, input, 1f, x.Value.Span, input, w.Value.Span, ldw, 0f, y.Value.Span, output);
        tape.Record(y, () =>
        {
            var dy = y.Gradient!.Span;
            if (x.RequiresGradient && half is not null)
                Gemm.Multiply(false, !transposeW, rows, input, output, 1f, dy, output, half.Bits.Span[w.Value.Offset..], half.Format, ldw, 1f, x.AccumulatingGradient(), input);
            else if (x.RequiresGradient)
                Gemm.Multiply(false, !transposeW, rows, input, output, 1f, dy, output, w.Value.Span, ldw, 1f, x.AccumulatingGradient(), input);
            if (w.RequiresGradient)
            {
                if (transposeW) Gemm.Multiply(true, false, output, input, rows, 1f, dy, output, x.Value.Span, input, 1f, w.AccumulatingGradient(), input);
                else Gemm.Multiply(true, false, input, output, rows, 1f, x.Value.Span, input, dy, output, 1f, w.AccumulatingGradient(), output);
            }
        });
        return y;
    }

    /// <summary>y = a + b (same shapes): residual connections.</summary>
    public static Variable Add(Tape tape, Variable a, Variable b)
    {
        ArgumentNullException.ThrowIfNull(tape);
        CheckSameShape(a, b, nameof(b));
        var y = Result(tape, a.Value.Shape.ToArray(), a, b);
        ForChunks(y.Value.Length, (start, n) => Elementwise.Add(a.Value.Span.Slice(start, n), b.Value.Span.Slice(start, n), y.Value.Span.Slice(start, n)));
        tape.Record(y, () =>
        {
            if (a.RequiresGradient) AccumulateGradient(a, y.Gradient!);
            if (b.RequiresGradient) AccumulateGradient(b, y.Gradient!);
        });
        return y;
    }

    /// <summary>
    /// y = x as a node of its own: when several parts of a graph read x, the gradient of the part that reads y stays
    /// apart in y's gradient (x's gradient still receives it too). Post-norm models' MLPs read the residual itself.
    /// </summary>
    public static Variable Copy(Tape tape, Variable x)
    {
        ArgumentNullException.ThrowIfNull(tape);
        var y = Result(tape, x.Value.Shape.ToArray(), x);
        x.Value.Span.CopyTo(y.Value.Span);
        tape.Record(y, () =>
        {
            if (x.RequiresGradient) AccumulateGradient(x, y.Gradient!);
        });
        return y;
    }

    /// <summary>y[r, :] = x[r, :] + bias for every row (a linear layer's bias). Backward: dbias += Σ_rows dy.</summary>
    public static Variable AddRowBias(Tape tape, Variable x, Variable bias)
    {
        ArgumentNullException.ThrowIfNull(tape);
        int cols = Features(x, nameof(x));
        CheckVector(bias, cols, nameof(bias));
        int rows = x.Value.Length / Math.Max(cols, 1);
        var y = Result(tape, x.Value.Shape.ToArray(), x, bias);
        ForRows(rows, cols, (r0, n) =>
        {
            var block = y.Value.Span.Slice(r0 * cols, n * cols);
            x.Value.Span.Slice(r0 * cols, n * cols).CopyTo(block);
            Elementwise.AddRowVector(block, n, cols, bias.Value.Span);
        });
        tape.Record(y, () =>
        {
            if (x.RequiresGradient) AccumulateGradient(x, y.Gradient!);
            if (bias.RequiresGradient) AccumulateColumnSums(y.Gradient!, rows, cols, bias);
        });
        return y;
    }
}
