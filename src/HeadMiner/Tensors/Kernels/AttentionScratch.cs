using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// Growable float buffers for the attention kernels, pinned so the kernels hold raw pointers into them, and grown only
/// when a call needs more, so steady-state calls of the same shapes allocate nothing.
/// </summary>
internal static unsafe class AttentionScratch
{
    [ThreadStatic] private static float[]? t_item;

    /// <summary>At least <paramref name="floats"/> floats, 64-byte aligned, for one work item running on this thread.</summary>
    public static float* ForItem(long floats) => Get(ref t_item, floats);

    /// <summary>At least <paramref name="floats"/> floats, 64-byte aligned, from <paramref name="slot"/>, (re)allocated if short.</summary>
    public static float* Get(ref float[]? slot, long floats)
    {
        long needed = floats + 16; // room to align to 64 bytes
        var buffer = slot;
        if (buffer is null || buffer.Length < needed)
        {
            long size = Math.Max(needed, (buffer?.Length ?? 0) * 3L / 2);
            if (size > Array.MaxLength) throw new ArgumentException($"attention scratch of {floats} floats is too large");
            buffer = GC.AllocateUninitializedArray<float>((int)size, pinned: true);
            slot = buffer;
        }
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        return (float*)((address + 63) & ~(nint)63);
    }
}
