using Tensor = HeadMiner.Tensors.Tensor;

namespace HeadMiner.Training;

/// <summary>
/// A copy of what an optimizer step changes — every parameter's value, AdamW's moments and its step count — taken
/// just before the step, so that a step whose result is not finite can be undone. Without it, the weights of the
/// last finite step would be gone: a huge learning rate can turn finite weights into ±∞ within a single update,
/// and only the next forward pass would show it. The buffers are allocated once; <see cref="Capture"/> copies
/// about three floats per parameter, the same order of work as the AdamW update itself.
/// </summary>
internal sealed class LastFiniteState
{
    private readonly AdamW _optimizer;
    private readonly IReadOnlyList<TrainableParameter> _parameters;
    private readonly float[][] _values;
    private readonly KeyValuePair<string, Tensor>[] _moments;
    private readonly Tensor[] _momentCopies;
    private long _stepCount;

    public LastFiniteState(AdamW optimizer)
    {
        _optimizer = optimizer;
        _parameters = optimizer.Parameters;
        _values = _parameters.Select(p => new float[p.Value.Length]).ToArray();
        _moments = optimizer.StateTensors().ToArray();
        _momentCopies = _moments.Select(m => Tensor.Zeros(m.Value.Shape.ToArray())).ToArray();
    }

    /// <summary>Remembers the current state (call before the optimizer step).</summary>
    public void Capture()
    {
        for (int i = 0; i < _parameters.Count; i++) _parameters[i].Value.Span.CopyTo(_values[i]);
        for (int i = 0; i < _moments.Length; i++) _moments[i].Value.CopyTo(_momentCopies[i]);
        _stepCount = _optimizer.StepCount;
    }

    /// <summary>Puts the captured state back (the step is undone bit for bit).</summary>
    public void Restore()
    {
        for (int i = 0; i < _parameters.Count; i++) _values[i].CopyTo(_parameters[i].Value.Span);
        var moments = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < _moments.Length; i++) moments[_moments[i].Key] = _momentCopies[i];
        _optimizer.RestoreState(_stepCount, moments);
    }

    /// <summary>"parameter X: [i, j] is NaN" for the first non-finite value of the live state, or null when all are finite.</summary>
    public static string? FirstNonFinite(AdamW optimizer)
    {
        foreach (var p in optimizer.Parameters)
        {
            if (NonFiniteValues.Describe(p.Value) is string where) return $"parameter {p.Name}: {where}";
        }
        foreach (var (name, moment) in optimizer.StateTensors())
        {
            if (NonFiniteValues.Describe(moment) is string where) return $"optimizer state {name}: {where}";
        }
        return null;
    }
}
