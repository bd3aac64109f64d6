using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Training;

/// <summary>
/// Damages a safetensors file the way a diverged run or a bad copy would: one element of one tensor replaced by a
/// non-finite value, everything else (other tensors, metadata such as the checkpoint's step) kept as it was.
/// </summary>
internal static class CheckpointPoisoning
{
    /// <summary>Sets element <paramref name="index"/> (flat) of the first tensor whose name ends with <paramref name="suffix"/>; returns its full name.</summary>
    public static string Poison(string path, string suffix, int index, float value)
    {
        var tensors = new List<KeyValuePair<string, Tensor>>();
        Dictionary<string, string> metadata;
        string? poisoned = null;
        using (var file = SafetensorsFile.Open(path))
        {
            metadata = new Dictionary<string, string>(file.Metadata);
            foreach (string name in file.TensorNames)
            {
                var copy = file.GetFloat32(name).Clone(); // off the mapping, which the rewrite replaces
                if (poisoned is null && name.EndsWith(suffix, StringComparison.Ordinal))
                {
                    copy.Span[index] = value;
                    poisoned = name;
                }
                tensors.Add(new(name, copy));
            }
        }
        Assert.True(poisoned is not null, $"{path} has no tensor named *{suffix}");
        SafetensorsWriter.Write(path, tensors, metadata);
        return poisoned!;
    }
}
