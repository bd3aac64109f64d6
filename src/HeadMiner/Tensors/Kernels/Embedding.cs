namespace HeadMiner.Tensors.Kernels;

/// <summary>Row gather from an embedding table [vocab, dim].</summary>
public static class Embedding
{
    /// <summary>output[t] = table[ids[t]]. An id outside [0, vocab) is an error naming the position.</summary>
    public static void Gather(ReadOnlySpan<float> table, int dim, ReadOnlySpan<int> ids, Span<float> output)
    {
        int vocab = table.Length / dim;
        for (int t = 0; t < ids.Length; t++)
        {
            int id = ids[t];
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} at position {t} is outside the vocabulary [0, {vocab})");
            table.Slice(id * dim, dim).CopyTo(output.Slice(t * dim, dim));
        }
    }
}
