using HeadMiner.Tensors;

namespace HeadMiner.Models.Formats;

/// <summary>The element types a safetensors header may name. Only F32, F16 and BF16 convert to float32 tensors.</summary>
public enum SafetensorsDType
{
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

/// <summary>Element sizes and header spellings of <see cref="SafetensorsDType"/>.</summary>
public static class SafetensorsDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F64 or SafetensorsDType.I64 => 8,
        SafetensorsDType.F32 or SafetensorsDType.I32 => 4,
        SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.I16 => 2,
        SafetensorsDType.I8 or SafetensorsDType.U8 or SafetensorsDType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown safetensors dtype"),
    };

    /// <summary>The spelling used in safetensors headers ("F32", "BF16", "BOOL", …).</summary>
    public static string HeaderName(this SafetensorsDType dtype) => dtype == SafetensorsDType.Bool ? "BOOL" : dtype.ToString();

    /// <summary>True for the types <c>GetFloat32</c> can return: F32 as-is, F16/BF16 converted.</summary>
    public static bool IsFloatConvertible(this SafetensorsDType dtype) =>
        dtype is SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16;

    /// <summary>True for the 16-bit float types that <see cref="HalfTensor"/> holds.</summary>
    public static bool IsHalf(this SafetensorsDType dtype) => dtype is SafetensorsDType.F16 or SafetensorsDType.BF16;

    /// <summary>The tensor-level 16-bit format of F16/BF16.</summary>
    public static HalfFormat HalfFormat(this SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.BF16 => Tensors.HalfFormat.BFloat16,
        SafetensorsDType.F16 => Tensors.HalfFormat.Float16,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a 16-bit float type"),
    };

    /// <summary>Parses a header dtype string. Case-sensitive, as the format is.</summary>
    public static bool TryParse(string text, out SafetensorsDType dtype)
    {
        switch (text)
        {
            case "F64": dtype = SafetensorsDType.F64; return true;
            case "F32": dtype = SafetensorsDType.F32; return true;
            case "F16": dtype = SafetensorsDType.F16; return true;
            case "BF16": dtype = SafetensorsDType.BF16; return true;
            case "I64": dtype = SafetensorsDType.I64; return true;
            case "I32": dtype = SafetensorsDType.I32; return true;
            case "I16": dtype = SafetensorsDType.I16; return true;
            case "I8": dtype = SafetensorsDType.I8; return true;
            case "U8": dtype = SafetensorsDType.U8; return true;
            case "BOOL": dtype = SafetensorsDType.Bool; return true;
            default: dtype = default; return false;
        }
    }
}
