using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// Matrix products in bf16 arithmetic (<see cref="ArithmeticPrecision.Bf16"/>): C[m×n] = alpha · bf16(A) · bf16(op(B))
/// + beta · C, A row-major m×k (not transposed), B as in <see cref="Gemm"/> (k×n, or n×k when transB). Both operands
/// are rounded to bfloat16 (round to nearest even; a BF16 B is used as stored), each product of two bf16 values is exact
/// in float32, and the sums are float32. With AVX512_BF16 and the native library (<see cref="NativeBf16"/>) the
/// products run as VDPBF16PS (two per lane per instruction); otherwise the managed fallback computes the same
/// rounded products with the float32 GEMM. The two differ only in the order of the float32 sums (and VDPBF16PS's
/// flushing of subnormals), which is what the tests hold them to.
/// </summary>
public static class GemmBf16
{
    // Below this many multiply-adds a second thread costs more than it saves (as in Gemm).
    private const long MinMultiplyAddsPerThread = 1L << 22;

    /// <summary>Whether the native VDPBF16PS kernels run here (else the managed emulation).</summary>
    public static bool IsNative => NativeBf16.Available;

    /// <summary>Per calling thread: a test (or the bench) forces the managed emulation even where the native kernels exist.</summary>
    [ThreadStatic] internal static bool t_forceManaged;

    /// <summary>Per calling thread: a test forces the packed-weights kernel for nn.Linear BF16 weights (the general path).</summary>
    [ThreadStatic] internal static bool t_packWeights;

    private static bool UseNative => NativeBf16.Available && !t_forceManaged;

    /// <summary>What runs bf16 products on this machine, in words (for headers and JSON metadata).</summary>
    public static string Implementation => NativeBf16.Available
        ? "native AVX512_BF16 (VDPBF16PS)"
        : $"managed emulation ({NativeBf16.Unavailable})";

    /// <summary>A float32 B.</summary>
    public static unsafe void Multiply(bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (!Validate(transB, m, n, k, alpha, a.Length, lda, b.Length, ldb, beta, c, ldc)) return;
        if (!UseNative)
        {
            ManagedFloatB(transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        fixed (float* pa = a, pb = b, pc = c)
            NativeBf16Job.Run(NativeBf16Job.Kind.GemmDot, m, n, k, alpha, pa, lda, pb, NativeBf16.FormatF32, transB, ldb, beta, pc, ldc);
    }

    /// <summary>A 16-bit B (BF16 used as stored; F16 widened then rounded to bf16).</summary>
    public static unsafe void Multiply(bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<ushort> b, HalfFormat bFormat, int ldb, float beta, Span<float> c, int ldc)
    {
        if (!Validate(transB, m, n, k, alpha, a.Length, lda, b.Length, ldb, beta, c, ldc)) return;
        if (!UseNative)
        {
            ManagedHalfB(transB, m, n, k, alpha, a, lda, b, bFormat, ldb, beta, c, ldc);
            return;
        }
        int format = bFormat == HalfFormat.BFloat16 ? NativeBf16.FormatBf16 : NativeBf16.FormatF16;
        // One row (decode) against BF16 weights: a GEMV that reads the weights once, no packing. More rows against
        // nn.Linear's BF16 [out, in] weights: the weights are the broadcast operand, read in place (no packing).
        var kind = format != NativeBf16.FormatBf16 ? NativeBf16Job.Kind.GemmDot
            : m == 1 ? NativeBf16Job.Kind.GemvDot
            : transB && !t_packWeights ? NativeBf16Job.Kind.GemmWeightRows
            : NativeBf16Job.Kind.GemmDot;
        fixed (float* pa = a, pc = c)
        fixed (ushort* pb = b)
            NativeBf16Job.Run(kind, m, n, k, alpha, pa, lda, pb, format, transB, ldb, beta, pc, ldc);
    }

    /// <summary>
    /// One row times BF16 weights in float32 arithmetic with the native widening GEMV (a bf16 is a float's top half:
    /// a shift and a mask widen 32 weights), y = x · op(W) + beta·y. Sums in another order than <see cref="Gemm"/>'s
    /// (so not bit-identical to it); false when the native kernels are not available (nothing computed).
    /// </summary>
    public static unsafe bool TryMultiplyRowWidening(bool transB, int n, int k, ReadOnlySpan<float> x,
        ReadOnlySpan<ushort> w, int ldw, float beta, Span<float> y)
    {
        if (!Validate(transB, 1, n, k, 1f, x.Length, k, w.Length, ldw, beta, y, n)) return true;
        if (!UseNative) return false;
        fixed (float* px = x, py = y)
        fixed (ushort* pw = w)
            NativeBf16Job.Run(NativeBf16Job.Kind.GemvWiden, 1, n, k, 1f, px, k, pw, NativeBf16.FormatBf16, transB, ldw, beta, py, n);
        return true;
    }

    /// <summary>float32 → bfloat16 bits, round to nearest even (NaN stays a quiet NaN); the rule of VCVTNEPS2BF16 and torch.</summary>
    public static ushort ToBf16Bits(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40);
        u += 0x7fffu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    /// <summary>The float32 value of <paramref name="value"/> rounded to bfloat16.</summary>
    public static float RoundToBf16(float value) => BitConverter.Int32BitsToSingle(ToBf16Bits(value) << 16);

    /// <summary>Returns false when there is nothing to multiply (C already handled).</summary>
    private static bool Validate(bool transB, int m, int n, int k, float alpha, int aLength, int lda, int bLength, int ldb, float beta, Span<float> c, int ldc)
    {
        Gemm.ValidateShape(m, n, k);
        Gemm.ValidateOperand(aLength, m, k, lda, 0, 1, "a", nameof(lda));
        Gemm.ValidateOperand(bLength, transB ? n : k, transB ? k : n, ldb, 0, 1, "b", nameof(ldb));
        Gemm.ValidateOperand(c.Length, m, n, ldc, 0, 1, nameof(c), nameof(ldc));
        if (m == 0 || n == 0) return false;
        if (k == 0 || alpha == 0)
        {
            Gemm.ScaleC(c, m, n, ldc, beta);
            return false;
        }
        return true;
    }

    // ---- managed fallback (also the tests' reference) ------------------------------------------------------------

    private static void ManagedFloatB(bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        int bRows = transB ? n : k, bWidth = transB ? k : n;
        float[] ra = RoundedCopy(a, m, k, lda);
        float[] rb = RoundedCopy(b, bRows, bWidth, ldb);
        try
        {
            Gemm.Multiply(false, transB, m, n, k, alpha, ra, k, rb, bWidth, beta, c, ldc);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(ra);
            ArrayPool<float>.Shared.Return(rb);
        }
    }

    private static void ManagedHalfB(bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<ushort> b, HalfFormat bFormat, int ldb, float beta, Span<float> c, int ldc)
    {
        float[] ra = RoundedCopy(a, m, k, lda);
        try
        {
            if (bFormat == HalfFormat.BFloat16)
            {
                // bf16 × bf16 products are exact in float32: the float32 GEMM on the widened weights is bf16 arithmetic.
                Gemm.Multiply(false, transB, m, n, k, alpha, ra, k, b, HalfFormat.BFloat16, ldb, beta, c, ldc);
                return;
            }
            int bRows = transB ? n : k, bWidth = transB ? k : n;
            float[] rb = ArrayPool<float>.Shared.Rent(bRows * bWidth);
            try
            {
                for (int r = 0; r < bRows; r++)
                    for (int j = 0; j < bWidth; j++)
                        rb[r * bWidth + j] = RoundToBf16(HalfWidening.ToFloat(b[r * ldb + j], bFormat));
                Gemm.Multiply(false, transB, m, n, k, alpha, ra, k, rb, bWidth, beta, c, ldc);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(rb);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(ra);
        }
    }

    /// <summary>rows×width of <paramref name="source"/> (row stride ld) rounded to bf16, compact (row stride width), pooled.</summary>
    private static float[] RoundedCopy(ReadOnlySpan<float> source, int rows, int width, int ld)
    {
        float[] copy = ArrayPool<float>.Shared.Rent(rows * width);
        for (int r = 0; r < rows; r++)
        {
            var row = source.Slice(r * ld, width);
            var dst = copy.AsSpan(r * width, width);
            for (int j = 0; j < width; j++) dst[j] = RoundToBf16(row[j]);
        }
        return copy;
    }

    /// <summary>The native kernels over column ranges on the worker threads (one cached job per calling thread).</summary>
    private sealed unsafe class NativeBf16Job : IParallelBody
    {
        public enum Kind { GemmDot, GemmWeightRows, GemvDot, GemvWiden }

        // Column chunks are multiples of this (a GEMM panel is 32 wide; a [k, n] GEMV handles 64 columns per pass; the
        // weight-rows GEMM takes 12 weight rows per tile, and a coarser multiple would leave the threads unevenly
        // loaded: 2048 columns in chunks of 192 are 11 chunks for 2 threads).
        private const int ChunkAlign = 64, WeightRowsChunkAlign = 12;

        [ThreadStatic] private static NativeBf16Job? t_cached;

        // A rounded and packed once per product (12-row tiles, or 32-token panels for the weight-rows GEMM; all
        // depth), read by every column range; kept per calling thread, grown when a larger product comes, freed with
        // the job when its thread has gone.
        private uint* _packedA;
        private long _packedACapacity;
        private bool _packingA;

        private Kind _kind;
        private int _m, _n, _k, _lda, _format, _ldc, _chunk;
        private float _alpha, _beta;
        private float* _a, _c;
        private void* _b;
        private bool _transB;
        private long _ldb;

        public static void Run(Kind kind, int m, int n, int k, float alpha, float* a, int lda, void* b, int format,
            bool transB, long ldb, float beta, float* c, int ldc)
        {
            var job = t_cached ??= new NativeBf16Job();
            job._kind = kind;
            job._m = m;
            job._n = n;
            job._k = k;
            job._alpha = alpha;
            job._a = a;
            job._lda = lda;
            job._b = b;
            job._format = format;
            job._transB = transB;
            job._ldb = ldb;
            job._beta = beta;
            job._c = c;
            job._ldc = ldc;
            long work = (long)m * n * k;
            int threads = WorkerPool.InsideParallelRegion ? 1 : (int)Math.Min(WorkerPool.MaxThreads, Math.Max(1, work / MinMultiplyAddsPerThread));
            bool gemm = kind is Kind.GemmDot or Kind.GemmWeightRows;
            if (gemm) job.PackA(threads);
            // A few chunks per thread, claimed dynamically, so a core busy with another process does not hold the call back.
            int chunks = threads == 1 ? 1 : threads * (gemm ? 8 : 4);
            int align = kind == Kind.GemmWeightRows ? WeightRowsChunkAlign : ChunkAlign;
            job._chunk = Math.Max(align, (n + chunks - 1) / chunks + align - 1) / align * align;
            int count = (n + job._chunk - 1) / job._chunk;
            if (count == 1) job.Invoke(0);
            else WorkerPool.For(count, job);
        }

        private void PackA(int threads)
        {
            bool x = _kind == Kind.GemmWeightRows;
            long size = x ? NativeBf16.hm_packed_x_bf16_size(_m, _k) : NativeBf16.hm_packed_a_bf16_size(_m, _k);
            if (size > _packedACapacity)
            {
                NativeMemory.AlignedFree(_packedA);
                _packedA = (uint*)NativeMemory.AlignedAlloc((nuint)size * sizeof(uint), 64);
                _packedACapacity = size;
            }
            int tiles = x ? (_m + 31) / 32 : (_m + 11) / 12;
            _packingA = true;
            if (threads == 1 || tiles == 1) PackTiles(0, tiles);
            else WorkerPool.For(tiles, this);
            _packingA = false;
        }

        private void PackTiles(int tile0, int tile1)
        {
            if (_kind == Kind.GemmWeightRows) NativeBf16.hm_pack_x_bf16(_m, tile0, tile1, _k, _a, _lda, _packedA);
            else NativeBf16.hm_pack_a_bf16(_m, tile0, tile1, _k, _a, _lda, _packedA);
        }

        ~NativeBf16Job() => NativeMemory.AlignedFree(_packedA);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(int index)
        {
            if (_packingA)
            {
                PackTiles(index, index + 1);
                return;
            }
            int n0 = index * _chunk, n1 = Math.Min(_n, n0 + _chunk);
            switch (_kind)
            {
                case Kind.GemmDot:
                    NativeBf16.hm_gemm_bf16dot(_m, n0, n1, _k, _alpha, _packedA, _b, _format, _transB ? 1 : 0, _ldb, _beta, _c, _ldc);
                    break;
                case Kind.GemmWeightRows:
                    NativeBf16.hm_gemm_bf16w_nt(_m, n0, n1, _k, _alpha, _packedA, (ushort*)_b, _ldb, _beta, _c, _ldc);
                    break;
                case Kind.GemvDot:
                    NativeBf16.hm_gemv_bf16dot(n0, n1, _k, _alpha, _a, (ushort*)_b, _transB ? 1 : 0, _ldb, _beta, _c);
                    break;
                default:
                    NativeBf16.hm_gemv_bf16w_f32(n0, n1, _k, _alpha, _a, (ushort*)_b, _transB ? 1 : 0, _ldb, _beta, _c);
                    break;
            }
        }
    }
}
