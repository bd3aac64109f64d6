using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HeadMiner.Tensors;

/// <summary>
/// Large float arrays (logits, big activations) placed on transparent huge pages where Linux offers them on request
/// (THP in "madvise" mode, as on this project's machines; in "always" mode the kernel does it unasked): the 2 MiB
/// aligned interior of a fresh array is advised MADV_HUGEPAGE before anything touches it, so its first write takes one
/// fault per 2 MiB instead of one per 4 KiB.
/// </summary>
/// <remarks>
/// <para>Why: a forward's logits are a fresh array every call (8×128 tokens × 50,257 = 206 MB), and whether the GC
/// hands back memory it has already touched depends on its budget. When it does not, every 4 KiB page faults. On
/// this project's KVM guests a 4 KiB first touch costs 12.6 µs (the host backs the page too), so 206 MB took 660 ms,
/// as long as the forward itself. On 2 MiB pages the same first touch takes 13–25 ms. PyTorch's CPU allocator does
/// the same for blocks of 2 MiB and more when THP_MEM_ALLOC_ENABLE=1.</para>
/// <para>The advice is only a hint on the GC's own heap range, and the arrays it covers are pinned (they never move,
/// so the range stays theirs). Elsewhere, and on failure, nothing happens.</para>
/// </remarks>
public static class HugePageArrays
{
    /// <summary>Arrays from this size up are advised (two huge pages: smaller ones rarely hold an aligned 2 MiB).</summary>
    public const long MinBytes = 4L << 20;

    private const nint HugePage = 2 << 20;
    private const int MadvHugepage = 14;

    // madvise from the C library, resolved once by its real file name (glibc's "libc.so" is a linker script that
    // dlopen rejects where the development files are installed); null elsewhere, and then nothing is advised.
    private static readonly unsafe delegate* unmanaged<nint, nuint, int, int> s_madvise = ResolveMadvise();

    /// <summary>An array whose elements are not set (every one must be written before it is read).</summary>
    public static float[] Uninitialized(int length)
    {
        bool large = (long)length * sizeof(float) >= MinBytes;
        // A large one on the pinned-object heap, so the advised range stays the array's: a compacting collection
        // (the atlas runs aggressive ones between detectors) may move objects of the large-object heap.
        var array = GC.AllocateUninitializedArray<float>(length, pinned: large);
        if (large) Advise(array);
        return array;
    }

    /// <summary>An array of zeros; large ones are advised before they are cleared, so clearing faults in huge pages.</summary>
    public static float[] Zeroed(int length)
    {
        if ((long)length * sizeof(float) < MinBytes) return new float[length];
        var array = Uninitialized(length);
        array.AsSpan().Clear();
        return array;
    }

    /// <summary>
    /// <paramref name="length"/> floats whose elements are not set, for a fresh large result such as a forward's logits:
    /// where huge pages can be requested, the buffer starts on a 2 MiB boundary inside a slightly larger pinned array and
    /// is advised up to the boundary past its end, so all of it, edges included, faults in 2 MiB pages. Elsewhere, and
    /// for small lengths, it is a plain array of exactly that length.
    /// </summary>
    /// <remarks>
    /// <see cref="Uninitialized"/> can only advise an array's aligned interior: the up to 2 MiB at each end share their
    /// huge page with the array's header or its neighbours and fault per 4 KiB. For GPT-2 small's 1×128 logits (25.7 MB,
    /// fresh every forward) that was ~400 faults of 12.6 µs per forward, ~5 ms of a ~110 ms forward; aligned, the forward
    /// took 82. The price is up to 4 MiB of address space per buffer that is never touched (so never resident),
    /// plus the unused end of the last huge page (under 2 MiB).
    /// </remarks>
    public static unsafe Memory<float> UninitializedAligned(int length)
    {
        long bytes = (long)length * sizeof(float);
        long advisedBytes = (bytes + HugePage - 1) & ~(long)(HugePage - 1);
        long totalFloats = (advisedBytes + HugePage) / sizeof(float);
        if (bytes < MinBytes || s_madvise == null || totalFloats > Array.MaxLength) return Uninitialized(length);
        var array = GC.AllocateUninitializedArray<float>((int)totalFloats, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        nint first = (start + HugePage - 1) & ~(HugePage - 1);
        AdviseRange(first, advisedBytes); // inside the array: first − start < 2 MiB
        return array.AsMemory((int)((first - start) / sizeof(float)), length);
    }

    /// <summary>
    /// Advises MADV_HUGEPAGE on [<paramref name="start"/>, +<paramref name="bytes"/>) (start page-aligned), memory of
    /// this process's own such as a mapped checkpoint; true if the system took the advice. A hint: where THP is off
    /// or the call is unavailable nothing changes.
    /// </summary>
    internal static unsafe bool AdviseRange(nint start, long bytes) =>
        s_madvise != null && bytes > 0 && s_madvise(start, (nuint)bytes, MadvHugepage) == 0;

    private static unsafe void Advise(float[] array)
    {
        if (s_madvise == null) return;
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        nint end = start + (nint)((long)array.Length * sizeof(float));
        nint first = (start + HugePage - 1) & ~(HugePage - 1), last = end & ~(HugePage - 1);
        if (last - first >= HugePage) AdviseRange(first, last - first);
    }

    private static unsafe delegate* unmanaged<nint, nuint, int, int> ResolveMadvise()
    {
        if (!OperatingSystem.IsLinux()) return null;
        foreach (string name in new[] { "libc.so.6", "libc" })
            if (NativeLibrary.TryLoad(name, out nint library) && NativeLibrary.TryGetExport(library, "madvise", out nint madvise))
                return (delegate* unmanaged<nint, nuint, int, int>)madvise;
        return null;
    }
}
