using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>Which micro-kernel the GEMM runs: the widest the hardware accelerates, or one forced by a test.</summary>
internal enum GemmKernelPath
{
    Auto,
    Avx512,
    Avx2,
    Scalar,
}

internal static class GemmKernelPaths
{
    /// <summary>The best path this machine supports.</summary>
    public static readonly GemmKernelPath Best =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? GemmKernelPath.Avx512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? GemmKernelPath.Avx2
        : GemmKernelPath.Scalar;

    /// <summary>Per calling thread, so a test that forces the fallback does not change other tests' calls.</summary>
    [ThreadStatic] public static GemmKernelPath t_forced;

    /// <summary>The path for a call made on this thread (a forced path the hardware lacks falls back to <see cref="Best"/>).</summary>
    public static GemmKernelPath Current
    {
        get
        {
            GemmKernelPath forced = t_forced;
            if (forced == GemmKernelPath.Scalar) return forced;
            if (forced == GemmKernelPath.Avx2 && Best != GemmKernelPath.Scalar) return forced;
            return Best;
        }
    }
}
