using HeadMiner.Tensors;

namespace HeadMiner.Training;

/// <summary>
/// The order a training run visits its examples: epoch after epoch, each a fresh permutation of 0 … n−1. Epoch e's
/// permutation is a Fisher–Yates shuffle driven by a <see cref="SeededRandom"/> whose seed is derived from
/// (seed, e) alone, so it is the same on every machine and .NET version, and any epoch can be produced without
/// replaying the ones before it. A run is therefore resumed exactly by constructing the order again at the
/// (<see cref="Epoch"/>, <see cref="Position"/>) saved in its checkpoint.
/// <para>One permutation buffer is reused for every epoch: advancing allocates nothing.</para>
/// </summary>
public sealed class DataOrder
{
    private readonly int[] _permutation;

    public DataOrder(int exampleCount, ulong seed, int epoch = 0, int position = 0)
    {
        if (exampleCount <= 0) throw new ArgumentOutOfRangeException(nameof(exampleCount), $"example count must be > 0, got {exampleCount}");
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), $"epoch must be ≥ 0, got {epoch}");
        if (position < 0 || position > exampleCount)
            throw new ArgumentOutOfRangeException(nameof(position), $"position {position} is outside [0, {exampleCount}]");
        ExampleCount = exampleCount;
        Seed = seed;
        _permutation = new int[exampleCount];
        Epoch = epoch;
        Position = position;
        FillPermutation(seed, epoch, _permutation);
    }

    public int ExampleCount { get; }
    public ulong Seed { get; }

    /// <summary>The epoch the next example comes from (0-based).</summary>
    public int Epoch { get; private set; }

    /// <summary>How many examples of the current epoch have been handed out (0 … ExampleCount).</summary>
    public int Position { get; private set; }

    /// <summary>The permutation of the current epoch (a view of the internal buffer; it changes when the epoch does).</summary>
    public ReadOnlySpan<int> CurrentEpochOrder => _permutation;

    /// <summary>The next example index; moves to the next epoch's permutation after the last one of an epoch.</summary>
    public int Next()
    {
        if (Position == ExampleCount)
        {
            Epoch = checked(Epoch + 1);
            Position = 0;
            FillPermutation(Seed, Epoch, _permutation);
        }
        return _permutation[Position++];
    }

    /// <summary>Fills <paramref name="indices"/> with the next examples (a batch may span an epoch boundary).</summary>
    public void NextBatch(Span<int> indices)
    {
        for (int i = 0; i < indices.Length; i++) indices[i] = Next();
    }

    /// <summary>The permutation of epoch <paramref name="epoch"/> for <paramref name="seed"/>, as a new array.</summary>
    public static int[] Permutation(int exampleCount, ulong seed, int epoch)
    {
        if (exampleCount < 0) throw new ArgumentOutOfRangeException(nameof(exampleCount));
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch));
        var order = new int[exampleCount];
        FillPermutation(seed, epoch, order);
        return order;
    }

    private static void FillPermutation(ulong seed, int epoch, Span<int> order)
    {
        for (int i = 0; i < order.Length; i++) order[i] = i;
        new SeededRandom(EpochSeed(seed, epoch)).Shuffle(order);
    }

    /// <summary>
    /// Mixes the run seed and the epoch through a SplitMix64 finaliser, so neighbouring (seed, epoch) pairs give
    /// unrelated generator seeds (seed ^ epoch would make (1, 0) and (0, 1) identical).
    /// </summary>
    internal static ulong EpochSeed(ulong seed, int epoch)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * ((ulong)epoch + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
