using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Training;

/// <summary>
/// Global-norm gradient clipping with the semantics of PyTorch's <c>torch.nn.utils.clip_grad_norm_</c> (2-norm):
/// the norm is taken over all gradients together, ‖g‖ = √(Σ over every element of every gradient g²), accumulated
/// in double; if ‖g‖ exceeds <c>maxNorm</c>, every gradient is multiplied by maxNorm / (‖g‖ + 1e-6). The 1e-6 is
/// PyTorch's: it keeps the coefficient finite and leaves the clipped norm a hair under maxNorm.
/// <para><b>Non-finite gradients.</b> If any gradient holds NaN or ±∞ the norm is NaN or +∞; it is returned as is and
/// <b>the gradients are left untouched</b> (PyTorch would multiply them by NaN or 0, destroying the evidence). The
/// caller decides: the usual response is to skip the optimizer step and log the step, which
/// <c>double.IsFinite(norm)</c> tells it to do.</para>
/// </summary>
public static class GradientClipping
{
    /// <summary>PyTorch's guard added to the norm before dividing.</summary>
    public const double NormEpsilon = 1e-6;

    /// <summary>The global 2-norm of all gradients (double accumulation).</summary>
    public static double GlobalNorm(IEnumerable<Tensor> gradients)
    {
        double sumOfSquares = 0;
        foreach (var g in gradients)
        {
            var span = Contiguous(g);
            sumOfSquares += Reductions.Dot(span, span);
        }
        return Math.Sqrt(sumOfSquares);
    }

    /// <summary>
    /// Scales the gradients in place so that their global norm is at most <paramref name="maxNorm"/> and returns the
    /// norm before clipping (what a training log records). Non-finite norms: see the class remarks.
    /// </summary>
    public static double ClipGlobalNorm(IReadOnlyList<Tensor> gradients, double maxNorm)
    {
        if (!(maxNorm > 0) || double.IsInfinity(maxNorm)) throw new ArgumentOutOfRangeException(nameof(maxNorm), $"max norm must be finite and > 0, got {maxNorm}");
        double norm = GlobalNorm(gradients);
        if (!double.IsFinite(norm)) return norm;
        double coefficient = maxNorm / (norm + NormEpsilon);
        if (coefficient < 1)
            foreach (var g in gradients) Elementwise.Scale(g.Span, (float)coefficient);
        return norm;
    }

    /// <summary>Clips the gradients of <paramref name="parameters"/>; see <see cref="ClipGlobalNorm(IReadOnlyList{Tensor}, double)"/>.</summary>
    public static double ClipGlobalNorm(IReadOnlyList<TrainableParameter> parameters, double maxNorm) =>
        ClipGlobalNorm(parameters.Select(p => p.Gradient).ToArray(), maxNorm);

    private static ReadOnlySpan<float> Contiguous(Tensor g) =>
        g.IsContiguous ? g.Span : throw new ArgumentException($"gradient of shape {g.ShapeString} is a strided view; clipping needs contiguous gradients");
}
