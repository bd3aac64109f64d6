using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// One growable float buffer per thread for the attention kernels (packed keys, score rows, gradient rows).
/// Pinned, so the kernels hold a raw pointer into it without fixing; grown only when a call needs more, so steady-state
/// calls of the same shapes allocate nothing.
/// </summary>
internal static unsafe class AttentionScratch
{
    [ThreadStatic] private static float[]? t_buffer;

    /// <summary>At least <paramref name="floats"/> floats, 64-byte aligned, owned by the calling thread until its next call.</summary>
    public static float* Get(long floats)
    {
        long needed = floats + 16; // room to align to 64 bytes
        var buffer = t_buffer;
        if (buffer is null || buffer.Length < needed)
        {
            long size = Math.Max(needed, (buffer?.Length ?? 0) * 3L / 2);
            if (size > Array.MaxLength) throw new ArgumentException($"attention scratch of {floats} floats is too large");
            buffer = GC.AllocateUninitializedArray<float>((int)size, pinned: true);
            t_buffer = buffer;
        }
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        return (float*)((address + 63) & ~(nint)63);
    }
}
