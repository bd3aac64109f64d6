using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using HeadMiner.Models;
using HeadMiner.Models.Formats;

namespace HeadMiner.Analysis.Literature;

/// <summary>
/// A fingerprint of a model's weights that names the parameter set, not the way it was stored or loaded
/// (docs/ATLAS.md, "Agreement with the literature"). Definition, version 1 (<see cref="Prefix"/>):
/// SHA-256 over the UTF-8 line "headminer-fingerprint-1\n", then for the first layer and the last layer (once when they
/// are the same) the attention input weight as the checkpoint stores it — GPT-2's <c>attn.c_attn.weight</c>, a
/// Llama-style <c>self_attn.q_proj.weight</c>, GPT-NeoX's <c>attention.query_key_value.weight</c>, llama2.c's
/// <c>wq</c> — as: the line "L{layer} {d0}x{d1}…\n" (layer index and stored shape), then its elements' sign bits in
/// storage order, packed eight to a byte, first element in the lowest bit (1 = sign bit set), the last byte
/// zero-padded. Written as "hm1:" + 64 lowercase hex digits.
/// <para>Why signs of raw checkpoint values: they are read from the files under the model's path, so TransformerLens
/// processing (which rewrites W_Q/W_K/W_V/W_O in memory) cannot change them; rounding to F16 or BF16 never changes a
/// sign (an underflow to zero keeps the sign bit), so F32, F16 and BF16 copies agree bit for bit — rounded values
/// themselves would not (a double rounding near a midpoint moves the last bit); and every attention tensor is present
/// in a weights-only checkpoint. Millions of signs tell models apart: a random or fine-tuned model differs in many.</para>
/// </summary>
public static partial class WeightFingerprint
{
    public const string Prefix = "hm1:";

    private const string Header = "headminer-fingerprint-1\n";

    /// <summary>The fingerprint of a loaded model, read from the checkpoint under <see cref="LoadedModel.Path"/>.</summary>
    public static string? Of(LoadedModel loaded)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        return Compute(loaded.Path, loaded.Model.Config.Layers);
    }

    /// <summary>
    /// The fingerprint of the checkpoint at <paramref name="path"/> (a Hugging Face directory, a .safetensors or index
    /// file, or a llama2.c .bin) of a model with <paramref name="layers"/> layers; null when the checkpoint has no
    /// attention input weight this definition knows for the first and last layer. A missing or unreadable file is an
    /// error naming the path.
    /// </summary>
    public static string? Compute(string path, int layers)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        if (!File.Exists(path) && !Directory.Exists(path)) throw new HeadMinerException($"{path}: no such file or directory (cannot fingerprint the model's weights)");
        if (File.Exists(path) && path.EndsWith(".bin", StringComparison.OrdinalIgnoreCase)) return Llama2c(path, layers);
        if (Directory.Exists(path) && !File.Exists(Path.Combine(path, SafetensorsCheckpoint.SingleFileName)) && !File.Exists(Path.Combine(path, SafetensorsCheckpoint.IndexFileName)))
        {
            var bins = Directory.GetFiles(path, "*.bin").Where(f => !Path.GetFileName(f).StartsWith("tok", StringComparison.OrdinalIgnoreCase)).ToArray();
            if (bins.Length == 1) return Llama2c(bins[0], layers);
        }
        using var checkpoint = SafetensorsCheckpoint.Open(path);
        var byLayer = new Dictionary<int, string>();
        foreach (var name in checkpoint.TensorNames)
        {
            var m = AttentionInput().Match(name);
            if (!m.Success) continue;
            int layer = int.Parse(m.Groups["layer"].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (layer == 0 || layer == layers - 1) byLayer.TryAdd(layer, name);
        }
        if (!byLayer.ContainsKey(0) || !byLayer.ContainsKey(layers - 1)) return null;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(Header));
        foreach (int layer in Layers(layers))
        {
            var info = checkpoint.Info(byLayer[layer]);
            int size = info.DType switch
            {
                SafetensorsDType.F64 => 8,
                SafetensorsDType.F32 => 4,
                SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
                _ => 0,
            };
            if (size == 0) return null;
            AppendTensorLine(hash, layer, info.ShapeArray());
            var bytes = checkpoint.RawBytes(byLayer[layer]);
            // Little-endian: the sign bit is the top bit of each element's last byte.
            var packed = new byte[(info.ElementCount + 7) / 8];
            for (int i = 0; i < info.ElementCount; i++)
                if ((bytes[i * size + size - 1] & 0x80) != 0) packed[i >> 3] |= (byte)(1 << (i & 7));
            hash.AppendData(packed);
        }
        return Finish(hash);
    }

    private static string Llama2c(string file, int layers)
    {
        using var checkpoint = Llama2cCheckpoint.Open(file);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(Header));
        foreach (int layer in Layers(layers))
        {
            var wq = checkpoint.Wq(layer).Contiguous();
            AppendTensorLine(hash, layer, wq.Shape.ToArray());
            var values = wq.ToArray();
            var packed = new byte[(values.Length + 7) / 8];
            for (int i = 0; i < values.Length; i++)
                if (BitConverter.SingleToInt32Bits(values[i]) < 0) packed[i >> 3] |= (byte)(1 << (i & 7));
            hash.AppendData(packed);
        }
        return Finish(hash);
    }

    private static IEnumerable<int> Layers(int layers) => layers == 1 ? [0] : [0, layers - 1];

    private static void AppendTensorLine(IncrementalHash hash, int layer, int[] shape) =>
        hash.AppendData(Encoding.UTF8.GetBytes($"L{layer} {string.Join("x", shape)}\n"));

    private static string Finish(IncrementalHash hash) => Prefix + Convert.ToHexStringLower(hash.GetHashAndReset());

    /// <summary>Layer index and the attention input weight of the families this definition knows (any name prefix).</summary>
    [GeneratedRegex(@"(?:^|\.)(?:h|layers|blocks|layer)\.(?<layer>\d+)\.(?:attn\.c_attn|self_attn\.q_proj|attention\.query_key_value|self_attn\.qkv_proj|attn\.qkv_proj|attn\.attention\.q_proj|mixer\.Wqkv|attn\.Wqkv)\.weight$")]
    private static partial Regex AttentionInput();
}
