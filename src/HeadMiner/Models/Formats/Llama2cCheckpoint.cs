using System.Buffers.Binary;
using HeadMiner.Tensors;

namespace HeadMiner.Models.Formats;

/// <summary>
/// A llama2.c "legacy" (v0) checkpoint, memory-mapped: a 7 × int32 header (dim, hidden_dim, n_layers, n_heads,
/// n_kv_heads, vocab_size, seq_len) then float32 arrays in run.c's order — token_embedding, rms_att, wq, wk, wv, wo,
/// rms_ffn, w1, w2, w3, rms_final, freq_cis_real, freq_cis_imag (unused: RoPE is recomputed), and wcls when
/// vocab_size is negative (a separate classifier). Matrices are <c>nn.Linear</c> layout [out, in], used as y = W x.
/// The header is validated and the file size must be exactly what it implies, so a truncated or foreign file fails
/// with one <see cref="HeadMinerException"/>. All tensors are zero-copy views onto the mapping (the arrays start at
/// byte 28, so every float is 4-byte aligned); keep this object alive while they are used.
/// </summary>
public sealed class Llama2cCheckpoint : IDisposable
{
    public const int HeaderBytes = 7 * sizeof(int);

    /// <summary>The first int32 of llama2.c's versioned exports (v1, v2): "ak42". Only legacy v0 is read here.</summary>
    private const int VersionedMagic = 0x616b3432;

    // Sanity limits: far above any llama2.c model, far below values whose products could overflow or would
    // suggest the header is not one at all.
    private const int MaxDim = 1 << 16, MaxHiddenDim = 1 << 20, MaxLayers = 4096, MaxVocab = 1 << 24, MaxSeqLen = 1 << 24;

    private readonly MappedFile _map;
    private readonly Dictionary<string, Tensor> _arrays;

    private Llama2cCheckpoint(string path, MappedFile map, Llama2cConfig config, List<Llama2cArray> layout)
    {
        Path = path;
        _map = map;
        Config = config;
        Arrays = layout;
        _arrays = layout.ToDictionary(a => a.Name, a => Tensor.FromMemory(map.Floats(a.ByteOffset, (int)a.ElementCount), a.Shape), StringComparer.Ordinal);
    }

    public string Path { get; }
    public Llama2cConfig Config { get; }

    /// <summary>Every array in file order with its byte offset and shape (freq_cis included, wcls only when separate).</summary>
    public IReadOnlyList<Llama2cArray> Arrays { get; }

    /// <summary>[vocab, dim].</summary>
    public Tensor TokenEmbedding => _arrays["token_embedding"];

    /// <summary>[dim].</summary>
    public Tensor RmsFinal => _arrays["rms_final"];

    /// <summary>[vocab, dim]: wcls, or the token embedding when the classifier is shared.</summary>
    public Tensor Classifier => Config.SharedClassifier ? TokenEmbedding : _arrays["wcls"];

    /// <summary>[dim] attention RMSNorm weight.</summary>
    public Tensor RmsAtt(int layer) => Layer("rms_att", layer);

    /// <summary>[dim, dim].</summary>
    public Tensor Wq(int layer) => Layer("wq", layer);

    /// <summary>[kv_dim, dim].</summary>
    public Tensor Wk(int layer) => Layer("wk", layer);

    /// <summary>[kv_dim, dim].</summary>
    public Tensor Wv(int layer) => Layer("wv", layer);

    /// <summary>[dim, dim].</summary>
    public Tensor Wo(int layer) => Layer("wo", layer);

    /// <summary>[dim] FFN RMSNorm weight.</summary>
    public Tensor RmsFfn(int layer) => Layer("rms_ffn", layer);

    /// <summary>[hidden_dim, dim] gate projection.</summary>
    public Tensor W1(int layer) => Layer("w1", layer);

    /// <summary>[dim, hidden_dim] down projection.</summary>
    public Tensor W2(int layer) => Layer("w2", layer);

    /// <summary>[hidden_dim, dim] up projection.</summary>
    public Tensor W3(int layer) => Layer("w3", layer);

    /// <summary>A whole array by its llama2.c name (per-layer arrays have a leading [n_layers] axis).</summary>
    public Tensor GetArray(string name)
    {
        if (_arrays.TryGetValue(name, out var tensor)) return tensor;
        throw new HeadMinerException($"{Path}: no array named '{ErrorText.Clip(name)}' (arrays: {string.Join(", ", _arrays.Keys)})");
    }

    public static Llama2cCheckpoint Open(string path)
    {
        var info = FileLinks.Resolve(path, "llama2.c checkpoint");
        if (info.Length < HeaderBytes)
            throw new HeadMinerException($"{path}: file is {info.Length} bytes, too short for a llama2.c checkpoint header ({HeaderBytes} bytes)");
        MappedFile map;
        try
        {
            map = new MappedFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{path}: cannot map file: {e.Message}", e);
        }
        try
        {
            var config = ReadConfig(path, map.Bytes(0, HeaderBytes));
            var layout = Layout(config, separateClassifier: !config.SharedClassifier);
            long expected = layout[^1].ByteEnd;
            if (expected != map.Length)
            {
                long other = Layout(config, separateClassifier: config.SharedClassifier)[^1].ByteEnd;
                string hint = other == map.Length
                    ? $"; that size fits a {(config.SharedClassifier ? "separate" : "shared")} classifier, so the sign of vocab_size looks wrong"
                    : map.Length < expected ? " (truncated?)" : " (trailing data, or not a legacy llama2.c export?)";
                throw new HeadMinerException(
                    $"{path}: file is {map.Length} bytes but its header ({Describe(config)}) implies {expected} bytes{hint}");
            }
            foreach (var array in layout)
            {
                if (array.ElementCount > int.MaxValue)
                    throw new HeadMinerException($"{path}: array {array.Name} has {array.ElementCount} elements, more than a tensor can index (2^31-1)");
            }
            return new Llama2cCheckpoint(path, map, config, layout);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    public void Dispose() => _map.Dispose();

    private Tensor Layer(string name, int layer)
    {
        if ((uint)layer >= (uint)Config.Layers)
            throw new HeadMinerException($"{Path}: layer {layer} is outside 0..{Config.Layers - 1}");
        return _arrays[name].Select(0, layer);
    }

    private static Llama2cConfig ReadConfig(string path, ReadOnlySpan<byte> header)
    {
        Span<int> h = stackalloc int[7];
        for (int i = 0; i < 7; i++) h[i] = BinaryPrimitives.ReadInt32LittleEndian(header[(i * 4)..]);
        if (h[0] == VersionedMagic)
            throw new HeadMinerException($"{path}: this is a versioned llama2.c export (magic \"ak42\", version {h[1]}); only legacy (v0) exports are supported");
        int dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kvHeads = h[4], vocab = h[5], seqLen = h[6];
        string header7 = $"dim={dim}, hidden_dim={hidden}, n_layers={layers}, n_heads={heads}, n_kv_heads={kvHeads}, vocab_size={vocab}, seq_len={seqLen}";
        void Require(bool ok, string problem)
        {
            if (!ok) throw new HeadMinerException($"{path}: invalid llama2.c header ({header7}): {problem}");
        }
        Require(dim is > 0 and <= MaxDim, $"dim must be in 1..{MaxDim}");
        Require(hidden is > 0 and <= MaxHiddenDim, $"hidden_dim must be in 1..{MaxHiddenDim}");
        Require(layers is > 0 and <= MaxLayers, $"n_layers must be in 1..{MaxLayers}");
        Require(heads > 0 && heads <= dim, "n_heads must be in 1..dim");
        Require(dim % heads == 0, "dim must be a multiple of n_heads");
        Require(dim / heads % 2 == 0, "the head size dim / n_heads must be even (rotary embeddings rotate pairs)");
        Require(kvHeads > 0 && kvHeads <= heads, "n_kv_heads must be in 1..n_heads");
        Require(heads % kvHeads == 0, "n_heads must be a multiple of n_kv_heads");
        Require(vocab != 0 && vocab != int.MinValue && Math.Abs(vocab) <= MaxVocab, $"|vocab_size| must be in 1..{MaxVocab}");
        Require(seqLen is > 0 and <= MaxSeqLen, $"seq_len must be in 1..{MaxSeqLen}");
        return new Llama2cConfig(dim, hidden, layers, heads, kvHeads, Math.Abs(vocab), seqLen, SharedClassifier: vocab > 0);
    }

    /// <summary>The arrays run.c's memory_map_weights walks, in order, each starting where the previous ends.</summary>
    private static List<Llama2cArray> Layout(Llama2cConfig c, bool separateClassifier)
    {
        var shapes = new List<(string Name, int[] Shape)>
        {
            ("token_embedding", [c.VocabSize, c.Dim]),
            ("rms_att", [c.Layers, c.Dim]),
            ("wq", [c.Layers, c.Dim, c.Dim]),
            ("wk", [c.Layers, c.KvDim, c.Dim]),
            ("wv", [c.Layers, c.KvDim, c.Dim]),
            ("wo", [c.Layers, c.Dim, c.Dim]),
            ("rms_ffn", [c.Layers, c.Dim]),
            ("w1", [c.Layers, c.HiddenDim, c.Dim]),
            ("w2", [c.Layers, c.Dim, c.HiddenDim]),
            ("w3", [c.Layers, c.HiddenDim, c.Dim]),
            ("rms_final", [c.Dim]),
            ("freq_cis_real", [c.SeqLen, c.HeadSize / 2]),
            ("freq_cis_imag", [c.SeqLen, c.HeadSize / 2]),
        };
        if (separateClassifier) shapes.Add(("wcls", [c.VocabSize, c.Dim]));
        var layout = new List<Llama2cArray>(shapes.Count);
        long offset = HeaderBytes;
        foreach (var (name, shape) in shapes)
        {
            var array = new Llama2cArray(name, offset, shape);
            layout.Add(array);
            offset = array.ByteEnd; // bounded by the header limits: at most ~2^52 bytes, no overflow
        }
        return layout;
    }

    private static string Describe(Llama2cConfig c) =>
        $"dim={c.Dim}, hidden_dim={c.HiddenDim}, n_layers={c.Layers}, n_heads={c.Heads}, n_kv_heads={c.KvHeads}, " +
        $"vocab_size={(c.SharedClassifier ? c.VocabSize : -c.VocabSize)}, seq_len={c.SeqLen}";
}
