namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// Row gather from an embedding table [vocab, dim], and its backward (scatter-add). Values are copied/added as
/// IEEE floats: NaN/∞ in the table or gradient travel with their rows.
/// </summary>
public static class Embedding
{
    /// <summary>output[t] = table[ids[t]]. An id outside [0, vocab) is an error naming the position.</summary>
    public static void Gather(ReadOnlySpan<float> table, int dim, ReadOnlySpan<int> ids, Span<float> output)
    {
        int vocab = Vocabulary(table.Length, dim);
        if ((long)ids.Length * dim > output.Length)
            throw new ArgumentException($"output has {output.Length} elements, {ids.Length} tokens of {dim} need {(long)ids.Length * dim}", nameof(output));
        for (int t = 0; t < ids.Length; t++)
        {
            int id = ids[t];
            if ((uint)id >= (uint)vocab) throw OutOfVocabulary(id, t, vocab);
            table.Slice(id * dim, dim).CopyTo(output.Slice(t * dim, dim));
        }
    }

    /// <summary>output[t] = table[ids[t]] widened, for a table stored in 16 bits (only the gathered rows are read).</summary>
    public static void Gather(ReadOnlySpan<ushort> table, HalfFormat format, int dim, ReadOnlySpan<int> ids, Span<float> output)
    {
        int vocab = Vocabulary(table.Length, dim);
        if ((long)ids.Length * dim > output.Length)
            throw new ArgumentException($"output has {output.Length} elements, {ids.Length} tokens of {dim} need {(long)ids.Length * dim}", nameof(output));
        for (int t = 0; t < ids.Length; t++)
        {
            int id = ids[t];
            if ((uint)id >= (uint)vocab) throw OutOfVocabulary(id, t, vocab);
            HalfWidening.ToFloat(table.Slice(id * dim, dim), output.Slice(t * dim, dim), format);
        }
    }

    /// <summary>
    /// Backward of <see cref="Gather(ReadOnlySpan{float}, int, ReadOnlySpan{int}, Span{float})"/>: tableGradient[ids[t]] += outputGradient[t] for every t (repeated ids
    /// accumulate). All ids are validated before anything is written, so a bad id leaves tableGradient unchanged.
    /// </summary>
    public static void ScatterAdd(ReadOnlySpan<float> outputGradient, int dim, ReadOnlySpan<int> ids, Span<float> tableGradient)
    {
        int vocab = Vocabulary(tableGradient.Length, dim);
        if ((long)ids.Length * dim > outputGradient.Length)
            throw new ArgumentException($"outputGradient has {outputGradient.Length} elements, {ids.Length} tokens of {dim} need {(long)ids.Length * dim}", nameof(outputGradient));
        for (int t = 0; t < ids.Length; t++)
            if ((uint)ids[t] >= (uint)vocab) throw OutOfVocabulary(ids[t], t, vocab);
        for (int t = 0; t < ids.Length; t++)
        {
            var row = tableGradient.Slice(ids[t] * dim, dim);
            System.Numerics.Tensors.TensorPrimitives.Add(row, outputGradient.Slice(t * dim, dim), row);
        }
    }

    private static int Vocabulary(int tableLength, int dim)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), $"embedding dimension {dim} must be positive");
        return tableLength / dim;
    }

    private static ArgumentOutOfRangeException OutOfVocabulary(int id, int position, int vocab) =>
        new("ids", $"token id {id} at position {position} is outside the vocabulary [0, {vocab})");
}
