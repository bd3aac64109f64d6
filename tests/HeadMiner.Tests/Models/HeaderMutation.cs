using System.Buffers.Binary;

namespace HeadMiner.Tests.Models;

/// <summary>New values for some of the llama2.c header's seven int32 fields, and whether the file is resized to fit them.</summary>
public sealed record HeaderMutation((int Field, int Value)[] Changes, bool ResizeToFit)
{
    private static readonly string[] Names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];

    /// <summary>
    /// The mutated file. Resizing to what the new header implies (zero-filled, capped at 16 MB) gets the mutation past
    /// the file-size check, so the header's own range checks and the model build behind them are exercised.
    /// </summary>
    public byte[] Apply(byte[] original)
    {
        var header = new int[7];
        for (int i = 0; i < 7; i++) header[i] = BinaryPrimitives.ReadInt32LittleEndian(original.AsSpan(4 * i));
        foreach (var (field, value) in Changes) header[field] = value;
        long size = original.Length;
        if (ResizeToFit && ImpliedSize(header) is long implied and > 28 and <= 16 << 20) size = implied;
        var bytes = new byte[size];
        original.AsSpan(0, (int)Math.Min(size, original.Length)).CopyTo(bytes);
        for (int i = 0; i < 7; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4 * i), header[i]);
        return bytes;
    }

    /// <summary>run.c's layout size for a header, or null when it is meaningless (the loader must reject those anyway).</summary>
    private static long? ImpliedSize(int[] h)
    {
        long dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv = h[4], vocab = Math.Abs((long)h[5]), seq = h[6];
        if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kv <= 0 || vocab <= 0 || seq <= 0 || dim > 1 << 16 || hidden > 1 << 20 || layers > 4096 || seq > 1 << 24 || vocab > 1 << 24)
            return null;
        long headSize = dim / heads, kvDim = kv * headSize;
        long floats = vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * hidden * dim) + dim + seq * headSize + (h[5] < 0 ? vocab * dim : 0);
        return 28 + 4 * floats;
    }

    public override string ToString() =>
        string.Join(", ", Changes.Select(c => $"{Names[c.Field]}={c.Value}")) + (ResizeToFit ? " (file resized to fit)" : "");
}
