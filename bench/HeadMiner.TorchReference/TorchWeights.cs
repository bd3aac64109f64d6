using HeadMiner.Models.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace HeadMiner.TorchReference;

/// <summary>The tensors of a safetensors checkpoint as LibTorch tensors, read through HeadMiner's own reader so both sides start from the very same values.</summary>
public static class TorchWeights
{
    /// <summary>Every tensor of <paramref name="path"/> as <paramref name="dtype"/> (F32/BF16/F16 files; BF16 → float32 → BF16 is exact).</summary>
    public static Dictionary<string, Tensor> Load(string path, ScalarType dtype)
    {
        using var file = SafetensorsFile.Open(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (string name in file.TensorNames)
        {
            var t = file.GetFloat32(name);
            long[] shape = [.. t.Shape.ToArray().Select(n => (long)n)];
            var tensor = torch.tensor(t.ToArray(), shape);
            if (dtype != ScalarType.Float32)
            {
                var converted = tensor.to(dtype);
                tensor.Dispose();
                tensor = converted;
            }
            result[name] = tensor;
            // The widened copy and the array are large-object garbage (up to 1 GiB each for a 1B model's embedding):
            // collect now, or they pile up next to the model on both sides.
            GC.Collect();
        }
        return result;
    }
}
