using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// 12×32 tile on AVX-512: 24 zmm accumulators + 2 B vectors + 1 broadcast fit the 32 registers. Each k step is
/// 24 FMAs against 2 loads and 12 broadcasts (folded into the FMAs as embedded broadcasts), enough independent
/// chains to hide the FMA latency on both of Zen 5's 512-bit pipes.
/// </summary>
internal readonly struct MicroKernel12x32Avx512 : IGemmMicroKernel
{
    public static int Mr => 12;
    public static int Nr => 32;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, int rows, GemmPrefetch prefetch)
    {
        // The tile of C is needed only after the k loop: start fetching its 24 lines now so the final loads and
        // stores do not wait on L2/L3 (rows of a wide C are far apart and often evicted between kc slices).
        for (int r = 0; r < 12; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + 16);
        }

        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;

        int fetchAt = prefetch.FirstStep;
        for (int p = 0; p < kc; p++)
        {
            if (p == fetchAt) fetchAt = prefetch.Request(p);
            Vector512<float> b0 = Vector512.Load(b);
            Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> ai = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(ai, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(ai, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(ai, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(ai, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(ai, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(ai, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(ai, b1, c51);
            ai = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(ai, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(ai, b1, c61);
            ai = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(ai, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(ai, b1, c71);
            ai = Vector512.Create(a[8]);
            c80 = Vector512.FusedMultiplyAdd(ai, b0, c80);
            c81 = Vector512.FusedMultiplyAdd(ai, b1, c81);
            ai = Vector512.Create(a[9]);
            c90 = Vector512.FusedMultiplyAdd(ai, b0, c90);
            c91 = Vector512.FusedMultiplyAdd(ai, b1, c91);
            ai = Vector512.Create(a[10]);
            ca0 = Vector512.FusedMultiplyAdd(ai, b0, ca0);
            ca1 = Vector512.FusedMultiplyAdd(ai, b1, ca1);
            ai = Vector512.Create(a[11]);
            cb0 = Vector512.FusedMultiplyAdd(ai, b0, cb0);
            cb1 = Vector512.FusedMultiplyAdd(ai, b1, cb1);
            a += 12;
            b += 32;
        }

        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        bool readC = beta != 0;
        Store(c, c00, c01, va, vb, readC);
        if (rows > 1) Store(c + ldc, c10, c11, va, vb, readC);
        if (rows > 2) Store(c + 2 * ldc, c20, c21, va, vb, readC);
        if (rows > 3) Store(c + 3 * ldc, c30, c31, va, vb, readC);
        if (rows > 4) Store(c + 4 * ldc, c40, c41, va, vb, readC);
        if (rows > 5) Store(c + 5 * ldc, c50, c51, va, vb, readC);
        if (rows > 6) Store(c + 6 * ldc, c60, c61, va, vb, readC);
        if (rows > 7) Store(c + 7 * ldc, c70, c71, va, vb, readC);
        if (rows > 8) Store(c + 8 * ldc, c80, c81, va, vb, readC);
        if (rows > 9) Store(c + 9 * ldc, c90, c91, va, vb, readC);
        if (rows > 10) Store(c + 10 * ldc, ca0, ca1, va, vb, readC);
        if (rows > 11) Store(c + 11 * ldc, cb0, cb1, va, vb, readC);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store(float* c, Vector512<float> lo, Vector512<float> hi,
        Vector512<float> alpha, Vector512<float> beta, bool readC)
    {
        if (readC)
        {
            Vector512.Store(Vector512.FusedMultiplyAdd(lo, alpha, beta * Vector512.Load(c)), c);
            Vector512.Store(Vector512.FusedMultiplyAdd(hi, alpha, beta * Vector512.Load(c + 16)), c + 16);
        }
        else
        {
            Vector512.Store(lo * alpha, c);
            Vector512.Store(hi * alpha, c + 16);
        }
    }
}
