using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// Growable float buffers per thread for the attention kernels, pinned so the kernels hold raw pointers into them,
/// and grown only when a call needs more, so steady-state calls of the same shapes allocate nothing. Two of them:
/// one a work item uses while it runs (score rows, gradient rows), and one a call fills before its parallel region
/// and the work items of that call read from any thread (the packed keys). The second is the calling thread's for
/// the whole call, so calls nested inside another kernel's parallel region each have their own.
/// </summary>
internal static unsafe class AttentionScratch
{
    [ThreadStatic] private static float[]? t_item;
    [ThreadStatic] private static float[]? t_call;

    /// <summary>At least <paramref name="floats"/> floats, 64-byte aligned, for one work item on this thread.</summary>
    public static float* ForItem(long floats) => Get(ref t_item, floats);

    /// <summary>At least <paramref name="floats"/> floats, 64-byte aligned, for the call this thread is making.</summary>
    public static float* ForCall(long floats) => Get(ref t_call, floats);

    private static float* Get(ref float[]? slot, long floats)
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
