using System.Buffers.Binary;
using System.Text.Json;

namespace HeadMiner.Tests.Models;

/// <summary>
/// A copy of a Hugging Face model directory with one float32 weight replaced (NaN by default): broken weights as a
/// user might have them, for the tests of non-finite forward passes. The copy is byte-for-byte the original except
/// those four bytes, found through the safetensors header.
/// </summary>
internal static class PoisonedModel
{
    public static string Copy(string modelDirectory, string targetDirectory, string tensor, int index, float value = float.NaN)
    {
        Directory.CreateDirectory(targetDirectory);
        foreach (string file in Directory.GetFiles(modelDirectory))
            File.Copy(file, Path.Combine(targetDirectory, Path.GetFileName(file)), overwrite: true);
        string weights = Path.Combine(targetDirectory, "model.safetensors");
        File.SetAttributes(weights, FileAttributes.Normal);
        using var stream = File.Open(weights, FileMode.Open, FileAccess.ReadWrite);
        var length = new byte[8];
        stream.ReadExactly(length);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(length);
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        using var json = JsonDocument.Parse(header);
        var entry = json.RootElement.GetProperty(tensor);
        if (entry.GetProperty("dtype").GetString() != "F32") throw new InvalidOperationException($"{tensor} is not F32");
        long begin = entry.GetProperty("data_offsets")[0].GetInt64();
        stream.Position = 8 + headerLength + begin + 4L * index;
        var bytes = new byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        stream.Write(bytes);
        return targetDirectory;
    }
}
