using System.Numerics.Tensors;
using Tensor = HeadMiner.Tensors.Tensor;

namespace HeadMiner.Training;

/// <summary>
/// Adam with decoupled weight decay (Loshchilov &amp; Hutter, "Decoupled Weight Decay Regularization"), with the
/// semantics of PyTorch's <c>torch.optim.AdamW</c> (amsgrad off, not maximising). For step t = 1, 2, … and each
/// parameter p with gradient g:
/// <code>
/// p ← p − lr·wd·p                      (only if the parameter decays)
/// m ← β₁·m + (1 − β₁)·g
/// v ← β₂·v + (1 − β₂)·g²
/// p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// </code>
/// The learning rate is an argument of <see cref="Step"/> so a schedule can change it every step. Parameters, m and
/// v are float32; the bias corrections are computed in double. A step allocates nothing: the only scratch is a fixed
/// stack buffer the parameters are processed through in chunks.
/// <para>State for checkpoints: <see cref="StepCount"/> (store it as metadata: it is an integer, not a tensor) and
/// <see cref="StateTensors"/> (the live m and v tensors, named "&lt;parameter&gt;.exp_avg" and
/// "&lt;parameter&gt;.exp_avg_sq" as in PyTorch's state dict). <see cref="RestoreState"/> loads both back.</para>
/// </summary>
public sealed class AdamW
{
    public const string FirstMomentSuffix = ".exp_avg";
    public const string SecondMomentSuffix = ".exp_avg_sq";

    // Small enough for the stack, large enough that TensorPrimitives runs at full vector width.
    private const int ChunkLength = 1024;

    private readonly TrainableParameter[] _parameters;
    private readonly Tensor[] _firstMoments;
    private readonly Tensor[] _secondMoments;

    public AdamW(IEnumerable<TrainableParameter> parameters, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0.01)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), $"beta1 must be in [0, 1), got {beta1}");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), $"beta2 must be in [0, 1), got {beta2}");
        if (!(epsilon >= 0) || double.IsInfinity(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), $"epsilon must be finite and ≥ 0, got {epsilon}");
        if (!(weightDecay >= 0) || double.IsInfinity(weightDecay)) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"weight decay must be finite and ≥ 0, got {weightDecay}");
        _parameters = parameters.ToArray();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in _parameters)
        {
            p.Validate();
            if (!names.Add(p.Name)) throw new ArgumentException($"parameter name {p.Name} appears twice");
        }
        _firstMoments = _parameters.Select(p => Tensor.Zeros(p.Value.Shape.ToArray())).ToArray();
        _secondMoments = _parameters.Select(p => Tensor.Zeros(p.Value.Shape.ToArray())).ToArray();
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }

    /// <summary>Steps taken so far (t of the last step; 0 before the first).</summary>
    public long StepCount { get; private set; }

    public IReadOnlyList<TrainableParameter> Parameters => _parameters;

    /// <summary>Applies one update to every parameter from its current gradient.</summary>
    public void Step(double learningRate)
    {
        if (!(learningRate >= 0) || double.IsInfinity(learningRate))
            throw new ArgumentOutOfRangeException(nameof(learningRate), $"learning rate must be finite and ≥ 0, got {learningRate}");
        long t = StepCount + 1;
        double biasCorrection1 = 1 - Math.Pow(Beta1, t);
        double biasCorrection2 = 1 - Math.Pow(Beta2, t);
        var coefficients = new StepCoefficients(
            Decay: (float)(1 - learningRate * WeightDecay),
            Beta1: (float)Beta1,
            OneMinusBeta1: (float)(1 - Beta1),
            Beta2: (float)Beta2,
            OneMinusBeta2: (float)(1 - Beta2),
            InverseSqrtBiasCorrection2: (float)(1 / Math.Sqrt(biasCorrection2)),
            Epsilon: (float)Epsilon,
            NegativeStepSize: (float)(-learningRate / biasCorrection1));

        Span<float> scratch = stackalloc float[ChunkLength];
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            var value = p.Value.Span;
            var gradient = p.Gradient.Span;
            var m = _firstMoments[i].Span;
            var v = _secondMoments[i].Span;
            bool decay = p.Decay && WeightDecay != 0;
            for (int start = 0; start < value.Length; start += ChunkLength)
            {
                int n = Math.Min(ChunkLength, value.Length - start);
                UpdateChunk(value.Slice(start, n), gradient.Slice(start, n), m.Slice(start, n), v.Slice(start, n), scratch[..n], decay, coefficients);
            }
        }
        StepCount = t;
    }

    private readonly record struct StepCoefficients(
        float Decay, float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2,
        float InverseSqrtBiasCorrection2, float Epsilon, float NegativeStepSize);

    private static void UpdateChunk(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Span<float> scratch, bool decay, in StepCoefficients c)
    {
        if (decay) TensorPrimitives.Multiply(p, c.Decay, p);
        // m ← β₁·m + (1 − β₁)·g
        TensorPrimitives.Multiply(m, c.Beta1, m);
        TensorPrimitives.MultiplyAdd(g, c.OneMinusBeta1, m, m);
        // v ← β₂·v + (1 − β₂)·g²
        TensorPrimitives.Multiply(g, g, scratch);
        TensorPrimitives.Multiply(v, c.Beta2, v);
        TensorPrimitives.MultiplyAdd(scratch, c.OneMinusBeta2, v, v);
        // denominator = √v / √(1 − β₂ᵗ) + ε, then p ← p − step·m / denominator
        TensorPrimitives.Sqrt(v, scratch);
        TensorPrimitives.Multiply(scratch, c.InverseSqrtBiasCorrection2, scratch);
        TensorPrimitives.Add(scratch, c.Epsilon, scratch);
        TensorPrimitives.Divide(m, scratch, scratch);
        TensorPrimitives.MultiplyAdd(scratch, c.NegativeStepSize, p, p);
    }

    /// <summary>
    /// The first and second moment of every parameter, named "&lt;parameter&gt;.exp_avg" and
    /// "&lt;parameter&gt;.exp_avg_sq". These are the live tensors (no copy): write them out before the next
    /// <see cref="Step"/>.
    /// </summary>
    public IEnumerable<KeyValuePair<string, Tensor>> StateTensors()
    {
        for (int i = 0; i < _parameters.Length; i++)
        {
            yield return new(_parameters[i].Name + FirstMomentSuffix, _firstMoments[i]);
            yield return new(_parameters[i].Name + SecondMomentSuffix, _secondMoments[i]);
        }
    }

    /// <summary>
    /// Loads a state saved from <see cref="StepCount"/> and <see cref="StateTensors"/> (values are copied in). Every
    /// moment tensor must be present with its parameter's shape; names for parameters this optimizer does not have
    /// are an error too, because they mean the checkpoint belongs to a different model.
    /// </summary>
    public void RestoreState(long stepCount, IReadOnlyDictionary<string, Tensor> tensors)
    {
        if (stepCount < 0) throw new HeadMinerException($"optimizer state: step count {stepCount} is negative");
        var expected = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < _parameters.Length; i++)
        {
            string first = _parameters[i].Name + FirstMomentSuffix, second = _parameters[i].Name + SecondMomentSuffix;
            expected.Add(first);
            expected.Add(second);
            CheckStateTensor(tensors, first, _firstMoments[i]);
            CheckStateTensor(tensors, second, _secondMoments[i]);
        }
        foreach (string name in tensors.Keys)
            if (!expected.Contains(name)) throw new HeadMinerException($"optimizer state: tensor {name} belongs to no parameter of this optimizer");
        for (int i = 0; i < _parameters.Length; i++)
        {
            tensors[_parameters[i].Name + FirstMomentSuffix].CopyTo(_firstMoments[i]);
            tensors[_parameters[i].Name + SecondMomentSuffix].CopyTo(_secondMoments[i]);
        }
        StepCount = stepCount;
    }

    private static void CheckStateTensor(IReadOnlyDictionary<string, Tensor> tensors, string name, Tensor destination)
    {
        if (!tensors.TryGetValue(name, out var source)) throw new HeadMinerException($"optimizer state: tensor {name} is missing");
        if (!source.Shape.SequenceEqual(destination.Shape))
            throw new HeadMinerException($"optimizer state: tensor {name} has shape {source.ShapeString}, the parameter has {destination.ShapeString}");
    }
}
