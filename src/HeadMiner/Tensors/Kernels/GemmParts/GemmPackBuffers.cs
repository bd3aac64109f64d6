using System.Runtime.InteropServices;

namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// One thread's packing space: an mc×kc block of A, a kc×nc block of B and one edge tile, 64-byte aligned and
/// allocated once per thread, so a GEMM call allocates nothing in steady state. Freed by the finalizer when the
/// thread that owned it has gone.
/// </summary>
internal sealed unsafe class GemmPackBuffers
{
    [ThreadStatic] private static GemmPackBuffers? t_current;

    private const int Alignment = 64;

    // Packing copies whole vectors, so a panel may write up to one vector past its end.
    private const int Slack = 64;

    public float* A { get; }
    public float* B { get; }
    public float* EdgeTile { get; }

    private GemmPackBuffers()
    {
        A = Allocate(GemmBlocking.PackedACapacity);
        B = Allocate(GemmBlocking.Kc * GemmBlocking.Nc);
        EdgeTile = Allocate(32 * 32);
    }

    /// <summary>The calling thread's buffers.</summary>
    public static GemmPackBuffers ForCurrentThread => t_current ??= new GemmPackBuffers();

    private static float* Allocate(int floats) =>
        (float*)NativeMemory.AlignedAlloc((nuint)(floats + Slack) * sizeof(float), Alignment);

    ~GemmPackBuffers()
    {
        NativeMemory.AlignedFree(A);
        NativeMemory.AlignedFree(B);
        NativeMemory.AlignedFree(EdgeTile);
    }
}
