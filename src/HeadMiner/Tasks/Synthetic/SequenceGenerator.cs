using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// A seeded generator of fixed-length token-id sequences. Sequence i of <see cref="Generate"/> is drawn from its own
/// <see cref="SeededRandom"/> seeded by (seed, i), so it does not depend on how many sequences are asked for: the
/// first 10 of 1,000 are the 10 of a call for 10, and batches can be made in any order.
/// </summary>
public abstract class SequenceGenerator
{
    /// <summary>The shortest sequence this generator can fill.</summary>
    public abstract int MinLength { get; }

    /// <summary>Fills one sequence (every position of <paramref name="tokens"/> and <paramref name="labels"/>) and returns its component spans.</summary>
    public abstract ComponentSpan[] Fill(SeededRandom random, Span<int> tokens, Span<PredictionKind> labels);

    /// <summary>
    /// Measures beyond the per-kind loss that the trainer records at each evaluation (e.g. the toy English's held-out
    /// task accuracy), by name; null: none.
    /// </summary>
    public virtual IReadOnlyDictionary<string, double>? HeldOutMetrics(Models.Transformer model) => null;

    public SyntheticSequences Generate(int sequences, int length, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequences);
        if (length < MinLength) throw new ArgumentOutOfRangeException(nameof(length), $"{GetType().Name} needs sequences of at least {MinLength} tokens, asked for {length}");
        var tokens = new int[sequences][];
        var labels = new PredictionKind[sequences][];
        var spans = new ComponentSpan[sequences][];
        for (int i = 0; i < sequences; i++)
        {
            tokens[i] = new int[length];
            labels[i] = new PredictionKind[length];
            spans[i] = Fill(RandomFor(seed, i), tokens[i], labels[i]);
        }
        return new SyntheticSequences(tokens, labels, spans);
    }

    /// <summary>The generator that sequence <paramref name="index"/> of a <see cref="Generate"/> call with <paramref name="seed"/> is drawn from.</summary>
    public static SeededRandom RandomFor(ulong seed, int index)
    {
        // Hash (seed, index) rather than add them: SeededRandom seeds its state with consecutive SplitMix steps, so
        // seeds a fixed stride apart would share most of their state words.
        ulong z = seed ^ (0xD1B54A32D192ED03UL * (ulong)(index + 1));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return new SeededRandom(z ^ (z >> 31));
    }
}
