namespace HeadMiner.Tensors;

/// <summary>
/// The storage of a 16-bit tensor (BF16/F16 checkpoint weights, usually straight over the memory-mapped file): the
/// bit patterns stay the only copy. Consumers that can read 16-bit data (the GEMM's packing, the GEMV, the embedding
/// gather, element access, copies) widen just what they touch. <see cref="Widened"/> serves the code that needs a
/// float32 span of the whole buffer (weight processing, weight-based analyses): it widens once and holds the copy
/// weakly, so the garbage collector can drop it under memory pressure and the next caller widens again.
/// </summary>
public sealed class HalfStorage(Memory<ushort> bits, HalfFormat format)
{
    private readonly Lock _gate = new();
    private WeakReference<float[]>? _widened;
    private int _widenings;

    /// <summary>The stored bit patterns.</summary>
    public Memory<ushort> Bits { get; } = bits;

    public HalfFormat Format { get; } = format;

    public int Length => Bits.Length;

    /// <summary>How many times the whole buffer has been widened (each costs 4 bytes per element); tests and benchmarks read it.</summary>
    public int Widenings => Volatile.Read(ref _widenings);

    /// <summary>
    /// A float32 copy of the whole buffer (made on first call, held weakly). Writes to it are not stored back and may be
    /// lost when the copy is collected: 16-bit tensors are read-only.
    /// </summary>
    public Memory<float> Widened()
    {
        lock (_gate)
        {
            if (_widened is not null && _widened.TryGetTarget(out var cached)) return cached;
            var copy = GC.AllocateUninitializedArray<float>(Length);
            HalfWidening.ToFloat(Bits.Span, copy, Format);
            _widened = new WeakReference<float[]>(copy);
            Interlocked.Increment(ref _widenings);
            return copy;
        }
    }

    public float this[int index] => HalfWidening.ToFloat(Bits.Span[index], Format);
}
