using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// 6×16 tile on AVX2+FMA (the fallback when 512-bit vectors are not accelerated): 12 ymm accumulators + 2 B vectors
/// + 1 broadcast fit the 16 registers.
/// </summary>
internal readonly struct MicroKernel6x16Avx2 : IGemmMicroKernel
{
    public static int Mr => 6;
    public static int Nr => 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, int rows, GemmPrefetch prefetch)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;

        int fetchAt = prefetch.FirstStep;
        for (int p = 0; p < kc; p++)
        {
            if (p == fetchAt) fetchAt = prefetch.Request(p);
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ai = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ai, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ai, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ai, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ai, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(ai, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(ai, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ai, b1, c51);
            a += 6;
            b += 16;
        }

        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        bool readC = beta != 0;
        Store(c, c00, c01, va, vb, readC);
        if (rows > 1) Store(c + ldc, c10, c11, va, vb, readC);
        if (rows > 2) Store(c + 2 * ldc, c20, c21, va, vb, readC);
        if (rows > 3) Store(c + 3 * ldc, c30, c31, va, vb, readC);
        if (rows > 4) Store(c + 4 * ldc, c40, c41, va, vb, readC);
        if (rows > 5) Store(c + 5 * ldc, c50, c51, va, vb, readC);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store(float* c, Vector256<float> lo, Vector256<float> hi,
        Vector256<float> alpha, Vector256<float> beta, bool readC)
    {
        if (readC)
        {
            Vector256.Store(Vector256.FusedMultiplyAdd(lo, alpha, beta * Vector256.Load(c)), c);
            Vector256.Store(Vector256.FusedMultiplyAdd(hi, alpha, beta * Vector256.Load(c + 8)), c + 8);
        }
        else
        {
            Vector256.Store(lo * alpha, c);
            Vector256.Store(hi * alpha, c + 8);
        }
    }
}
