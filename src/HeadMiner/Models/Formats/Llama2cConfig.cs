namespace HeadMiner.Models.Formats;

/// <summary>
/// The hyper-parameters in a llama2.c checkpoint header. <see cref="SharedClassifier"/> is true when the header's
/// vocab_size is positive: the output classifier is the token embedding (no separate wcls array).
/// </summary>
public sealed record Llama2cConfig(int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize, int SeqLen, bool SharedClassifier)
{
    public int HeadSize => Dim / Heads;

    /// <summary>Width of the K and V projections (grouped-query attention: KvHeads × HeadSize).</summary>
    public int KvDim => KvHeads * HeadSize;
}
