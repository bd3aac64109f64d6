namespace HeadMiner.Tensors.Autodiff;

/// <summary>
/// Recycles the buffers of one training step's intermediate values and gradients. A step of a fixed-shape model
/// asks for the same buffer sizes in the same order every time; without recycling each is a fresh zeroed
/// large-object allocation (about 190 MiB per step for the embedded model: page faults, zeroing and a gen-2 GC
/// every step, more time than the matrix products). A <see cref="Tape"/> made with an arena takes its op results,
/// their gradients and the attention patterns from here; <see cref="Reset"/> hands them all back for the next step.
/// <para><b>Lifetime.</b> Everything an arena lent is invalid after <see cref="Reset"/>: read what you need (the loss
/// value, a logged activation) first, and never reset while a tape made with the arena is still in use. Parameters
/// (leaf variables) never come from an arena, so their gradients live on. Not thread-safe: one arena per training
/// loop.</para>
/// </summary>
public sealed class TensorArena
{
    private readonly Dictionary<int, Stack<float[]>> _free = [];
    private readonly List<float[]> _lent = [];

    /// <summary>Buffers lent since the last <see cref="Reset"/>.</summary>
    public int LentCount => _lent.Count;

    /// <summary>Floats held by the arena in all (lent and free): its memory footprint.</summary>
    public long HeldFloats { get; private set; }

    /// <summary>A zeroed tensor of <paramref name="shape"/> over a recycled buffer (a new one if none of its size is free).</summary>
    public Tensor Zeros(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
            n *= d;
        }
        if (n > int.MaxValue) throw new ArgumentException($"shape [{string.Join(", ", shape)}] is too large", nameof(shape));
        return Tensor.Wrap(Rent((int)n), shape);
    }

    /// <summary>A zeroed array of exactly <paramref name="length"/> floats, valid until <see cref="Reset"/>.</summary>
    public float[] Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        float[] buffer;
        if (_free.TryGetValue(length, out var stack) && stack.Count > 0)
        {
            buffer = stack.Pop();
            Array.Clear(buffer); // a recycled buffer holds the last step's values
        }
        else
        {
            buffer = new float[length];
            HeldFloats += length;
        }
        _lent.Add(buffer);
        return buffer;
    }

    /// <summary>Takes back every buffer lent since the last reset (see the lifetime remarks).</summary>
    public void Reset()
    {
        foreach (var buffer in _lent)
        {
            if (!_free.TryGetValue(buffer.Length, out var stack)) _free[buffer.Length] = stack = new Stack<float[]>();
            stack.Push(buffer);
        }
        _lent.Clear();
    }
}
