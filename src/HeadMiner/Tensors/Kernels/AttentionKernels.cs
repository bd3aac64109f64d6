using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// The vector loops behind <see cref="Attention"/>: packing keys, score rows, masked softmax rows and the
/// "coefficients × rows" accumulation that serves P·V, dS·K, dSᵀ·Q and Pᵀ·dZ. Pointer-based because the callers
/// have validated every extent once and these run inside the innermost loops.
/// </summary>
internal static unsafe class AttentionKernels
{
    /// <summary>Floats per Vector512.</summary>
    public const int Lanes = 16;

    /// <summary>Keys per packed panel: four vectors, so one panel row feeds a 4-row × 4-vector register tile.</summary>
    public const int PanelKeys = 64;

    public static int RoundUp(int n, int multiple) => (n + multiple - 1) / multiple * multiple;

    /// <summary>Keys [lo, hi) that causality and the sliding window let the query at absolute position p see.</summary>
    public static void VisibleRange(int position, int keys, int slidingWindow, out int lo, out int hi)
    {
        long p = position;
        hi = (int)Math.Clamp(p + 1, 0, keys);
        lo = slidingWindow > 0 ? (int)Math.Clamp(p - slidingWindow + 1, 0, keys) : 0;
        if (lo > hi) lo = hi;
    }

    /// <summary>
    /// Packs keys [0, count) of one head (row r at k + r·rowStride) transposed into panels of <see cref="PanelKeys"/>:
    /// panel t holds kt[t·headDim·64 + d·64 + jj] = key (64t + jj), dimension d, zero-padded past count. Transposed so
    /// that one query's scores against 16 keys are a broadcast-FMA per dimension instead of 16 horizontal sums.
    /// </summary>
    public static void PackKeysTransposed(float* k, int rowStride, int count, int headDim, float* kt)
    {
        int panels = (count + PanelKeys - 1) / PanelKeys;
        for (int t = 0; t < panels; t++)
        {
            float* panel = kt + (long)t * headDim * PanelKeys;
            float* keys = k + (long)t * PanelKeys * rowStride;
            int width = Math.Min(PanelKeys, count - t * PanelKeys);
            int jj = 0, dEnd = 0;
            if (Avx.IsSupported)
            {
                dEnd = headDim & ~7;
                for (; jj + 8 <= width; jj += 8)
                    for (int d = 0; d < dEnd; d += 8)
                        Transpose8x8(keys + (long)jj * rowStride + d, rowStride, panel + d * PanelKeys + jj, PanelKeys);
            }
            // What the 8 × 8 tiles left: the last keys (all dimensions), then the last dimensions of the tiled keys.
            for (int j = jj; j < width; j++)
            {
                float* row = keys + (long)j * rowStride;
                for (int d = 0; d < headDim; d++) panel[d * PanelKeys + j] = row[d];
            }
            for (int j = 0; j < jj; j++)
            {
                float* row = keys + (long)j * rowStride;
                for (int d = dEnd; d < headDim; d++) panel[d * PanelKeys + j] = row[d];
            }
            if (width < PanelKeys)
                for (int d = 0; d < headDim; d++)
                    new Span<float>(panel + d * PanelKeys + width, PanelKeys - width).Clear();
        }
    }

    // dst[c·dstStride + r] = src[r·srcStride + c] for r, c < 8: the classic unpack / shuffle / lane-swap sequence,
    // about 3 shuffles per row instead of 8 scalar moves.
    private static void Transpose8x8(float* src, int srcStride, float* dst, int dstStride)
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + srcStride);
        var r2 = Avx.LoadVector256(src + 2L * srcStride);
        var r3 = Avx.LoadVector256(src + 3L * srcStride);
        var r4 = Avx.LoadVector256(src + 4L * srcStride);
        var r5 = Avx.LoadVector256(src + 5L * srcStride);
        var r6 = Avx.LoadVector256(src + 6L * srcStride);
        var r7 = Avx.LoadVector256(src + 7L * srcStride);
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2L * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3L * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4L * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5L * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6L * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7L * dstStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>
    /// <see cref="PanelScores2"/> for four rows (some may repeat): sixteen accumulators hide the FMA latency that eight
    /// leave exposed on cores with two 512-bit FMA pipes.
    /// </summary>
    public static void PanelScores4(float* qa, float* qb, float* qc, float* qd, float* panel, int headDim, int vectors, float scale,
        float* sa, float* sb, float* sc, float* sd)
    {
        if (vectors != 4)
        {
            PanelScores2(qa, qb, panel, headDim, vectors, scale, sa, sb);
            PanelScores2(qc, qd, panel, headDim, vectors, scale, sc, sd);
            return;
        }
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default;
        for (int d = 0; d < headDim; d++)
        {
            float* kr = panel + d * PanelKeys;
            var k0 = Vector512.Load(kr);
            var k1 = Vector512.Load(kr + 16);
            var k2 = Vector512.Load(kr + 32);
            var k3 = Vector512.Load(kr + 48);
            var x = Vector512.Create(qa[d]);
            a0 = Vector512.FusedMultiplyAdd(x, k0, a0);
            a1 = Vector512.FusedMultiplyAdd(x, k1, a1);
            a2 = Vector512.FusedMultiplyAdd(x, k2, a2);
            a3 = Vector512.FusedMultiplyAdd(x, k3, a3);
            x = Vector512.Create(qb[d]);
            b0 = Vector512.FusedMultiplyAdd(x, k0, b0);
            b1 = Vector512.FusedMultiplyAdd(x, k1, b1);
            b2 = Vector512.FusedMultiplyAdd(x, k2, b2);
            b3 = Vector512.FusedMultiplyAdd(x, k3, b3);
            x = Vector512.Create(qc[d]);
            c0 = Vector512.FusedMultiplyAdd(x, k0, c0);
            c1 = Vector512.FusedMultiplyAdd(x, k1, c1);
            c2 = Vector512.FusedMultiplyAdd(x, k2, c2);
            c3 = Vector512.FusedMultiplyAdd(x, k3, c3);
            x = Vector512.Create(qd[d]);
            d0 = Vector512.FusedMultiplyAdd(x, k0, d0);
            d1 = Vector512.FusedMultiplyAdd(x, k1, d1);
            d2 = Vector512.FusedMultiplyAdd(x, k2, d2);
            d3 = Vector512.FusedMultiplyAdd(x, k3, d3);
        }
        var s = Vector512.Create(scale);
        (a0 * s).Store(sa); (a1 * s).Store(sa + 16); (a2 * s).Store(sa + 32); (a3 * s).Store(sa + 48);
        (b0 * s).Store(sb); (b1 * s).Store(sb + 16); (b2 * s).Store(sb + 32); (b3 * s).Store(sb + 48);
        (c0 * s).Store(sc); (c1 * s).Store(sc + 16); (c2 * s).Store(sc + 32); (c3 * s).Store(sc + 48);
        (d0 * s).Store(sd); (d1 * s).Store(sd + 16); (d2 * s).Store(sd + 32); (d3 * s).Store(sd + 48);
    }

    /// <summary>
    /// Scores of two query rows (qa, qb; they may be the same row) against the keys of one packed panel:
    /// sa[jj] = scale · qa·key(jj) for jj in [0, 16·vectors). Writes whole vectors (the panel is zero-padded).
    /// </summary>
    public static void PanelScores2(float* qa, float* qb, float* panel, int headDim, int vectors, float scale, float* sa, float* sb)
    {
        if (vectors == 4)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
            for (int d = 0; d < headDim; d++)
            {
                float* kr = panel + d * PanelKeys;
                var k0 = Vector512.Load(kr);
                var k1 = Vector512.Load(kr + 16);
                var k2 = Vector512.Load(kr + 32);
                var k3 = Vector512.Load(kr + 48);
                var x = Vector512.Create(qa[d]);
                var y = Vector512.Create(qb[d]);
                a0 = Vector512.FusedMultiplyAdd(x, k0, a0);
                a1 = Vector512.FusedMultiplyAdd(x, k1, a1);
                a2 = Vector512.FusedMultiplyAdd(x, k2, a2);
                a3 = Vector512.FusedMultiplyAdd(x, k3, a3);
                b0 = Vector512.FusedMultiplyAdd(y, k0, b0);
                b1 = Vector512.FusedMultiplyAdd(y, k1, b1);
                b2 = Vector512.FusedMultiplyAdd(y, k2, b2);
                b3 = Vector512.FusedMultiplyAdd(y, k3, b3);
            }
            var s = Vector512.Create(scale);
            (a0 * s).Store(sa);
            (a1 * s).Store(sa + 16);
            (a2 * s).Store(sa + 32);
            (a3 * s).Store(sa + 48);
            (b0 * s).Store(sb);
            (b1 * s).Store(sb + 16);
            (b2 * s).Store(sb + 32);
            (b3 * s).Store(sb + 48);
            return;
        }
        for (int u = 0; u < vectors; u++)
        {
            Vector512<float> a = default, b = default;
            float* kr = panel + u * Lanes;
            for (int d = 0; d < headDim; d++)
            {
                var kv = Vector512.Load(kr + d * PanelKeys);
                a = Vector512.FusedMultiplyAdd(Vector512.Create(qa[d]), kv, a);
                b = Vector512.FusedMultiplyAdd(Vector512.Create(qb[d]), kv, b);
            }
            var s = Vector512.Create(scale);
            (a * s).Store(sa + u * Lanes);
            (b * s).Store(sb + u * Lanes);
        }
    }

    /// <summary>
    /// Scores of rows [0, rows) (row r at x + r·xStride, at absolute position firstPosition + r) against the packed
    /// panels covering keys [first, blockHi) (first a multiple of 64; kt as <see cref="PackKeysTransposed"/> lays out
    /// all keys), four rows per pass over a panel, skipping panels no row of the four can see. Row r's score for key j
    /// lands at s[r·stride + j − first]; entries a row cannot see hold junk.
    /// </summary>
    public static void PackedRowScores(float* x, int xStride, int rows, int firstPosition, int keys, int slidingWindow,
        float* kt, int headDim, int first, int blockHi, float scale, float* s, int stride)
    {
        for (int start = first; start < blockHi; start += PanelKeys)
        {
            int vectors = Math.Min(4, (blockHi - start + Lanes - 1) / Lanes);
            float* panel = kt + (long)(start / PanelKeys) * headDim * PanelKeys;
            for (int r = 0; r < rows; r += 4)
            {
                int rb = Math.Min(r + 1, rows - 1), rc = Math.Min(r + 2, rows - 1), rd = Math.Min(r + 3, rows - 1);
                VisibleRange(firstPosition + r, keys, slidingWindow, out int lo, out _);
                VisibleRange(firstPosition + rd, keys, slidingWindow, out _, out int hi);
                if (start >= hi || start + PanelKeys <= lo) continue;
                long at = start - first;
                PanelScores4(x + (long)r * xStride, x + (long)rb * xStride, x + (long)rc * xStride, x + (long)rd * xStride,
                    panel, headDim, vectors, scale,
                    s + (long)r * stride + at, s + (long)rb * stride + at, s + (long)rc * stride + at, s + (long)rd * stride + at);
            }
        }
    }

    /// <summary>
    /// s[j] = scale · q·key(j) for j in [lo, hi), key j at k + j·rowStride, without packing: for a handful of query rows
    /// (a decode step) packing the keys would cost more than the horizontal sums it saves.
    /// </summary>
    public static void DotScores(float* q, float* k, int rowStride, int lo, int hi, int headDim, float scale, float* s)
    {
        int vecEnd = headDim & ~(Lanes - 1);
        int j = lo;
        for (; j + 4 <= hi; j += 4)
        {
            float* k0 = k + (long)j * rowStride;
            float* k1 = k0 + rowStride;
            float* k2 = k1 + rowStride;
            float* k3 = k2 + rowStride;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int d = 0; d < vecEnd; d += Lanes)
            {
                var x = Vector512.Load(q + d);
                a0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(k0 + d), a0);
                a1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(k1 + d), a1);
                a2 = Vector512.FusedMultiplyAdd(x, Vector512.Load(k2 + d), a2);
                a3 = Vector512.FusedMultiplyAdd(x, Vector512.Load(k3 + d), a3);
            }
            float t0 = Vector512.Sum(a0), t1 = Vector512.Sum(a1), t2 = Vector512.Sum(a2), t3 = Vector512.Sum(a3);
            for (int d = vecEnd; d < headDim; d++)
            {
                t0 += q[d] * k0[d];
                t1 += q[d] * k1[d];
                t2 += q[d] * k2[d];
                t3 += q[d] * k3[d];
            }
            s[j] = scale * t0;
            s[j + 1] = scale * t1;
            s[j + 2] = scale * t2;
            s[j + 3] = scale * t3;
        }
        for (; j < hi; j++)
        {
            float* kr = k + (long)j * rowStride;
            Vector512<float> a = default;
            for (int d = 0; d < vecEnd; d += Lanes) a = Vector512.FusedMultiplyAdd(Vector512.Load(q + d), Vector512.Load(kr + d), a);
            float t = Vector512.Sum(a);
            for (int d = vecEnd; d < headDim; d++) t += q[d] * kr[d];
            s[j] = scale * t;
        }
    }

    /// <summary>
    /// <see cref="DotScores"/> for two query rows over the same keys, each key row loaded once for both (two heads of
    /// a GQA group at one decode position). qa == qb computes one row.
    /// </summary>
    public static void DotScores2(float* qa, float* qb, float* k, int rowStride, int lo, int hi, int headDim, float scale, float* sa, float* sb)
    {
        if (qa == qb)
        {
            DotScores(qa, k, rowStride, lo, hi, headDim, scale, sa);
            return;
        }
        int vecEnd = headDim & ~(Lanes - 1);
        int j = lo;
        for (; j + 4 <= hi; j += 4)
        {
            float* k0 = k + (long)j * rowStride;
            float* k1 = k0 + rowStride;
            float* k2 = k1 + rowStride;
            float* k3 = k2 + rowStride;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
            for (int d = 0; d < vecEnd; d += Lanes)
            {
                var x = Vector512.Load(qa + d);
                var y = Vector512.Load(qb + d);
                var c0 = Vector512.Load(k0 + d);
                var c1 = Vector512.Load(k1 + d);
                var c2 = Vector512.Load(k2 + d);
                var c3 = Vector512.Load(k3 + d);
                a0 = Vector512.FusedMultiplyAdd(x, c0, a0);
                a1 = Vector512.FusedMultiplyAdd(x, c1, a1);
                a2 = Vector512.FusedMultiplyAdd(x, c2, a2);
                a3 = Vector512.FusedMultiplyAdd(x, c3, a3);
                b0 = Vector512.FusedMultiplyAdd(y, c0, b0);
                b1 = Vector512.FusedMultiplyAdd(y, c1, b1);
                b2 = Vector512.FusedMultiplyAdd(y, c2, b2);
                b3 = Vector512.FusedMultiplyAdd(y, c3, b3);
            }
            float ta0 = Vector512.Sum(a0), ta1 = Vector512.Sum(a1), ta2 = Vector512.Sum(a2), ta3 = Vector512.Sum(a3);
            float tb0 = Vector512.Sum(b0), tb1 = Vector512.Sum(b1), tb2 = Vector512.Sum(b2), tb3 = Vector512.Sum(b3);
            for (int d = vecEnd; d < headDim; d++)
            {
                ta0 += qa[d] * k0[d]; ta1 += qa[d] * k1[d]; ta2 += qa[d] * k2[d]; ta3 += qa[d] * k3[d];
                tb0 += qb[d] * k0[d]; tb1 += qb[d] * k1[d]; tb2 += qb[d] * k2[d]; tb3 += qb[d] * k3[d];
            }
            sa[j] = scale * ta0; sa[j + 1] = scale * ta1; sa[j + 2] = scale * ta2; sa[j + 3] = scale * ta3;
            sb[j] = scale * tb0; sb[j + 1] = scale * tb1; sb[j + 2] = scale * tb2; sb[j + 3] = scale * tb3;
        }
        if (j < hi)
        {
            DotScores(qa, k, rowStride, j, hi, headDim, scale, sa);
            DotScores(qb, k, rowStride, j, hi, headDim, scale, sb);
        }
    }

    /// <summary>
    /// <see cref="DotScores"/> for four query rows over the same keys (four heads of a GQA group at one decode
    /// position): each key row is loaded once for all four, which halves the key traffic of <see cref="DotScores2"/>
    /// when the key cache is larger than the caches.
    /// </summary>
    public static void DotScores4(float* qa, float* qb, float* qc, float* qd, float* k, int rowStride, int lo, int hi, int headDim,
        float scale, float* sa, float* sb, float* sc, float* sd)
    {
        int vecEnd = headDim & ~(Lanes - 1);
        int j = lo;
        for (; j + 4 <= hi; j += 4)
        {
            float* k0 = k + (long)j * rowStride;
            float* k1 = k0 + rowStride;
            float* k2 = k1 + rowStride;
            float* k3 = k2 + rowStride;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
            Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default;
            for (int d = 0; d < vecEnd; d += Lanes)
            {
                var x0 = Vector512.Load(k0 + d);
                var x1 = Vector512.Load(k1 + d);
                var x2 = Vector512.Load(k2 + d);
                var x3 = Vector512.Load(k3 + d);
                var y = Vector512.Load(qa + d);
                a0 = Vector512.FusedMultiplyAdd(y, x0, a0); a1 = Vector512.FusedMultiplyAdd(y, x1, a1);
                a2 = Vector512.FusedMultiplyAdd(y, x2, a2); a3 = Vector512.FusedMultiplyAdd(y, x3, a3);
                y = Vector512.Load(qb + d);
                b0 = Vector512.FusedMultiplyAdd(y, x0, b0); b1 = Vector512.FusedMultiplyAdd(y, x1, b1);
                b2 = Vector512.FusedMultiplyAdd(y, x2, b2); b3 = Vector512.FusedMultiplyAdd(y, x3, b3);
                y = Vector512.Load(qc + d);
                c0 = Vector512.FusedMultiplyAdd(y, x0, c0); c1 = Vector512.FusedMultiplyAdd(y, x1, c1);
                c2 = Vector512.FusedMultiplyAdd(y, x2, c2); c3 = Vector512.FusedMultiplyAdd(y, x3, c3);
                y = Vector512.Load(qd + d);
                d0 = Vector512.FusedMultiplyAdd(y, x0, d0); d1 = Vector512.FusedMultiplyAdd(y, x1, d1);
                d2 = Vector512.FusedMultiplyAdd(y, x2, d2); d3 = Vector512.FusedMultiplyAdd(y, x3, d3);
            }
            StoreDots(qa, k0, k1, k2, k3, vecEnd, headDim, scale, a0, a1, a2, a3, sa + j);
            StoreDots(qb, k0, k1, k2, k3, vecEnd, headDim, scale, b0, b1, b2, b3, sb + j);
            StoreDots(qc, k0, k1, k2, k3, vecEnd, headDim, scale, c0, c1, c2, c3, sc + j);
            StoreDots(qd, k0, k1, k2, k3, vecEnd, headDim, scale, d0, d1, d2, d3, sd + j);
        }
        if (j < hi)
        {
            DotScores(qa, k, rowStride, j, hi, headDim, scale, sa);
            DotScores(qb, k, rowStride, j, hi, headDim, scale, sb);
            DotScores(qc, k, rowStride, j, hi, headDim, scale, sc);
            DotScores(qd, k, rowStride, j, hi, headDim, scale, sd);
        }
    }

    // s[0..3] = scale · (Σ lanes of the accumulator + the dimensions past the last whole vector) for keys k0..k3.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreDots(float* q, float* k0, float* k1, float* k2, float* k3, int vecEnd, int headDim, float scale,
        Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3, float* s)
    {
        float t0 = Vector512.Sum(a0), t1 = Vector512.Sum(a1), t2 = Vector512.Sum(a2), t3 = Vector512.Sum(a3);
        for (int d = vecEnd; d < headDim; d++)
        {
            t0 += q[d] * k0[d];
            t1 += q[d] * k1[d];
            t2 += q[d] * k2[d];
            t3 += q[d] * k3[d];
        }
        s[0] = scale * t0;
        s[1] = scale * t1;
        s[2] = scale * t2;
        s[3] = scale * t3;
    }

    /// <summary>Sets s[j] = −∞ for every j in [lo, hi) whose key is padding (valid[j] false).</summary>
    public static void MaskInvalidKeys(float* s, bool* valid, int lo, int hi)
    {
        for (int j = lo; j < hi; j++)
            if (!valid[j]) s[j] = float.NegativeInfinity;
    }

    /// <summary>
    /// In place over x[lo, hi): softmax, where −∞ entries (masked) become exact zeros. If every entry is −∞ the row
    /// becomes zeros (a query that sees nothing); a NaN anywhere makes every unmasked entry NaN.
    /// </summary>
    public static void SoftmaxRow(float* x, int lo, int hi)
    {
        int n = hi - lo;
        if (n <= 0) return;
        float* r = x + lo;
        float max = float.NegativeInfinity;
        int j = 0;
        if (n >= Lanes)
        {
            var m = Vector512.Create(float.NegativeInfinity);
            var nan = Vector512<float>.Zero;
            for (; j + Lanes <= n; j += Lanes)
            {
                var v = Vector512.Load(r + j);
                m = Vector512.Max(m, v);
                nan |= ~Vector512.Equals(v, v);
            }
            for (int u = 0; u < Lanes; u++) max = MathF.Max(max, m.GetElement(u));
            if (nan != Vector512<float>.Zero) max = float.NaN;
        }
        for (; j < n; j++) max = MathF.Max(max, r[j]);
        if (float.IsNegativeInfinity(max))
        {
            new Span<float>(r, n).Clear();
            return;
        }
        if (!float.IsFinite(max))
        {
            SoftmaxRowNonFinite(r, n, max);
            return;
        }
        var vmax = Vector512.Create(max);
        var vsum = Vector512<float>.Zero;
        j = 0;
        for (; j + Lanes <= n; j += Lanes)
        {
            var e = Vector512.Exp(Vector512.Load(r + j) - vmax);
            e.Store(r + j);
            vsum += e;
        }
        float sum = Vector512.Sum(vsum);
        for (; j < n; j++) sum += r[j] = MathF.Exp(r[j] - max);
        float inv = 1f / sum;
        var vinv = Vector512.Create(inv);
        j = 0;
        for (; j + Lanes <= n; j += Lanes) (Vector512.Load(r + j) * vinv).Store(r + j);
        for (; j < n; j++) r[j] *= inv;
    }

    // Max is NaN or +∞: follow the definition literally so that NaN reaches every visible entry while masked ones
    // stay 0. Masked entries are parked as −0 between the passes (exp never returns −0) to tell them from underflow.
    private static void SoftmaxRowNonFinite(float* r, int n, float max)
    {
        float sum = 0;
        for (int j = 0; j < n; j++)
        {
            float e = float.IsNegativeInfinity(r[j]) ? -0f : MathF.Exp(r[j] - max);
            r[j] = e;
            sum += e;
        }
        for (int j = 0; j < n; j++)
            r[j] = BitConverter.SingleToInt32Bits(r[j]) == int.MinValue ? 0 : r[j] / sum;
    }

    /// <summary>
    /// Two output rows at once: outA[0, headDim) (= or +=) Σ_t coefA[t·coefStep] · x[t·xStride + (0..headDim)], likewise
    /// outB with coefB. Serves P·V (coefficients along a pattern row, x = value rows) and the transposed products of
    /// the backward pass (coefficients down a column, x = query rows). outA and outB may be the same row when
    /// coefA == coefB (an odd row out); both then receive the same values.
    /// </summary>
    public static void Accumulate2(float* coefA, float* coefB, int coefStep, float* x, int xStride, int count, int headDim,
        float* outA, float* outB, bool add)
    {
        if (coefA == coefB && outA == outB)
        {
            Accumulate1(coefA, coefStep, x, xStride, count, headDim, outA, add);
            return;
        }
        int d = 0;
        for (; d + 4 * Lanes <= headDim; d += 4 * Lanes)
        {
            Vector512<float> a0, a1, a2, a3, b0, b1, b2, b3;
            if (add)
            {
                a0 = Vector512.Load(outA + d); a1 = Vector512.Load(outA + d + 16); a2 = Vector512.Load(outA + d + 32); a3 = Vector512.Load(outA + d + 48);
                b0 = Vector512.Load(outB + d); b1 = Vector512.Load(outB + d + 16); b2 = Vector512.Load(outB + d + 32); b3 = Vector512.Load(outB + d + 48);
            }
            else
            {
                a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = Vector512<float>.Zero;
            }
            float* xr = x + d;
            float* ca = coefA;
            float* cb = coefB;
            for (int t = 0; t < count; t++, xr += xStride, ca += coefStep, cb += coefStep)
            {
                var x0 = Vector512.Load(xr);
                var x1 = Vector512.Load(xr + 16);
                var x2 = Vector512.Load(xr + 32);
                var x3 = Vector512.Load(xr + 48);
                var pa = Vector512.Create(*ca);
                var pb = Vector512.Create(*cb);
                a0 = Vector512.FusedMultiplyAdd(pa, x0, a0);
                a1 = Vector512.FusedMultiplyAdd(pa, x1, a1);
                a2 = Vector512.FusedMultiplyAdd(pa, x2, a2);
                a3 = Vector512.FusedMultiplyAdd(pa, x3, a3);
                b0 = Vector512.FusedMultiplyAdd(pb, x0, b0);
                b1 = Vector512.FusedMultiplyAdd(pb, x1, b1);
                b2 = Vector512.FusedMultiplyAdd(pb, x2, b2);
                b3 = Vector512.FusedMultiplyAdd(pb, x3, b3);
            }
            a0.Store(outA + d); a1.Store(outA + d + 16); a2.Store(outA + d + 32); a3.Store(outA + d + 48);
            b0.Store(outB + d); b1.Store(outB + d + 16); b2.Store(outB + d + 32); b3.Store(outB + d + 48);
        }
        for (; d + Lanes <= headDim; d += Lanes)
        {
            Vector512<float> a = add ? Vector512.Load(outA + d) : default;
            Vector512<float> b = add ? Vector512.Load(outB + d) : default;
            float* xr = x + d;
            float* ca = coefA;
            float* cb = coefB;
            for (int t = 0; t < count; t++, xr += xStride, ca += coefStep, cb += coefStep)
            {
                var xv = Vector512.Load(xr);
                a = Vector512.FusedMultiplyAdd(Vector512.Create(*ca), xv, a);
                b = Vector512.FusedMultiplyAdd(Vector512.Create(*cb), xv, b);
            }
            a.Store(outA + d);
            b.Store(outB + d);
        }
        // Narrow tails (headDim 8, 24, 40, …: tiny models) in narrower vectors rather than scalars.
        if (d + 8 <= headDim)
        {
            Vector256<float> a = add ? Vector256.Load(outA + d) : default;
            Vector256<float> b = add ? Vector256.Load(outB + d) : default;
            float* xr = x + d;
            float* ca = coefA;
            float* cb = coefB;
            for (int t = 0; t < count; t++, xr += xStride, ca += coefStep, cb += coefStep)
            {
                var xv = Vector256.Load(xr);
                a = Vector256.FusedMultiplyAdd(Vector256.Create(*ca), xv, a);
                b = Vector256.FusedMultiplyAdd(Vector256.Create(*cb), xv, b);
            }
            a.Store(outA + d);
            b.Store(outB + d);
            d += 8;
        }
        if (d + 4 <= headDim)
        {
            Vector128<float> a = add ? Vector128.Load(outA + d) : default;
            Vector128<float> b = add ? Vector128.Load(outB + d) : default;
            float* xr = x + d;
            float* ca = coefA;
            float* cb = coefB;
            for (int t = 0; t < count; t++, xr += xStride, ca += coefStep, cb += coefStep)
            {
                var xv = Vector128.Load(xr);
                a = Vector128.FusedMultiplyAdd(Vector128.Create(*ca), xv, a);
                b = Vector128.FusedMultiplyAdd(Vector128.Create(*cb), xv, b);
            }
            a.Store(outA + d);
            b.Store(outB + d);
            d += 4;
        }
        for (; d < headDim; d++)
        {
            float a = add ? outA[d] : 0, b = add ? outB[d] : 0;
            float* xr = x + d;
            for (int t = 0; t < count; t++, xr += xStride)
            {
                a += coefA[(long)t * coefStep] * *xr;
                b += coefB[(long)t * coefStep] * *xr;
            }
            outA[d] = a;
            outB[d] = b;
        }
    }

    /// <summary>
    /// <see cref="Accumulate2"/> for four rows (coefficient rows c[0..3], output rows o[0..3]). Short blocks repeat
    /// their last row (a, b, c, c / a, b, b, b / a, a, a, a), coefficients and output alike; a repeated row receives
    /// its sum once. Each x row is loaded once for four rows, sixteen accumulators in flight. Only whole
    /// 64-float chunks of headDim are done four rows at a time; the rest goes through <see cref="Accumulate2"/>.
    /// </summary>
    public static void Accumulate4(float* ca, float* cb, float* cc, float* cd, int coefStep, float* x, int xStride, int count,
        int headDim, float* oa, float* ob, float* oc, float* od, bool add)
    {
        int wide = headDim & ~(4 * Lanes - 1);
        for (int d = 0; d < wide; d += 4 * Lanes)
        {
            Vector512<float> a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3;
            if (add)
            {
                a0 = Vector512.Load(oa + d); a1 = Vector512.Load(oa + d + 16); a2 = Vector512.Load(oa + d + 32); a3 = Vector512.Load(oa + d + 48);
                b0 = Vector512.Load(ob + d); b1 = Vector512.Load(ob + d + 16); b2 = Vector512.Load(ob + d + 32); b3 = Vector512.Load(ob + d + 48);
                c0 = Vector512.Load(oc + d); c1 = Vector512.Load(oc + d + 16); c2 = Vector512.Load(oc + d + 32); c3 = Vector512.Load(oc + d + 48);
                d0 = Vector512.Load(od + d); d1 = Vector512.Load(od + d + 16); d2 = Vector512.Load(od + d + 32); d3 = Vector512.Load(od + d + 48);
            }
            else
            {
                a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = c0 = c1 = c2 = c3 = d0 = d1 = d2 = d3 = Vector512<float>.Zero;
            }
            float* xr = x + d;
            long step = coefStep;
            for (long t = 0; t < count; t++, xr += xStride)
            {
                var x0 = Vector512.Load(xr);
                var x1 = Vector512.Load(xr + 16);
                var x2 = Vector512.Load(xr + 32);
                var x3 = Vector512.Load(xr + 48);
                var p = Vector512.Create(ca[t * step]);
                a0 = Vector512.FusedMultiplyAdd(p, x0, a0);
                a1 = Vector512.FusedMultiplyAdd(p, x1, a1);
                a2 = Vector512.FusedMultiplyAdd(p, x2, a2);
                a3 = Vector512.FusedMultiplyAdd(p, x3, a3);
                p = Vector512.Create(cb[t * step]);
                b0 = Vector512.FusedMultiplyAdd(p, x0, b0);
                b1 = Vector512.FusedMultiplyAdd(p, x1, b1);
                b2 = Vector512.FusedMultiplyAdd(p, x2, b2);
                b3 = Vector512.FusedMultiplyAdd(p, x3, b3);
                p = Vector512.Create(cc[t * step]);
                c0 = Vector512.FusedMultiplyAdd(p, x0, c0);
                c1 = Vector512.FusedMultiplyAdd(p, x1, c1);
                c2 = Vector512.FusedMultiplyAdd(p, x2, c2);
                c3 = Vector512.FusedMultiplyAdd(p, x3, c3);
                p = Vector512.Create(cd[t * step]);
                d0 = Vector512.FusedMultiplyAdd(p, x0, d0);
                d1 = Vector512.FusedMultiplyAdd(p, x1, d1);
                d2 = Vector512.FusedMultiplyAdd(p, x2, d2);
                d3 = Vector512.FusedMultiplyAdd(p, x3, d3);
            }
            a0.Store(oa + d); a1.Store(oa + d + 16); a2.Store(oa + d + 32); a3.Store(oa + d + 48);
            b0.Store(ob + d); b1.Store(ob + d + 16); b2.Store(ob + d + 32); b3.Store(ob + d + 48);
            c0.Store(oc + d); c1.Store(oc + d + 16); c2.Store(oc + d + 32); c3.Store(oc + d + 48);
            d0.Store(od + d); d1.Store(od + d + 16); d2.Store(od + d + 32); d3.Store(od + d + 48);
        }
        if (wide < headDim)
        {
            Accumulate2(ca, cb, coefStep, x + wide, xStride, count, headDim - wide, oa + wide, ob + wide, add);
            // Rows c, d repeating a or b were done above; doing them again would add twice.
            if (oc != oa && oc != ob)
                Accumulate2(cc, cd, coefStep, x + wide, xStride, count, headDim - wide, oc + wide, od + wide, add);
        }
    }

    /// <summary>
    /// out[0, headDim) (= or +=) Σ_t coef[t·coefStep] · x[t·xStride + (0..headDim)] for a single row (a decode step,
    /// the odd row of a block), so that it does not pay for a second row.
    /// </summary>
    public static void Accumulate1(float* coef, int coefStep, float* x, int xStride, int count, int headDim, float* output, bool add)
    {
        int d = 0;
        for (; d + 4 * Lanes <= headDim; d += 4 * Lanes)
        {
            Vector512<float> a0, a1, a2, a3;
            if (add)
            {
                a0 = Vector512.Load(output + d); a1 = Vector512.Load(output + d + 16); a2 = Vector512.Load(output + d + 32); a3 = Vector512.Load(output + d + 48);
            }
            else
            {
                a0 = a1 = a2 = a3 = Vector512<float>.Zero;
            }
            float* xr = x + d;
            float* c = coef;
            for (int t = 0; t < count; t++, xr += xStride, c += coefStep)
            {
                var p = Vector512.Create(*c);
                a0 = Vector512.FusedMultiplyAdd(p, Vector512.Load(xr), a0);
                a1 = Vector512.FusedMultiplyAdd(p, Vector512.Load(xr + 16), a1);
                a2 = Vector512.FusedMultiplyAdd(p, Vector512.Load(xr + 32), a2);
                a3 = Vector512.FusedMultiplyAdd(p, Vector512.Load(xr + 48), a3);
            }
            a0.Store(output + d); a1.Store(output + d + 16); a2.Store(output + d + 32); a3.Store(output + d + 48);
        }
        for (; d + Lanes <= headDim; d += Lanes)
        {
            Vector512<float> a = add ? Vector512.Load(output + d) : default;
            float* xr = x + d;
            float* c = coef;
            for (int t = 0; t < count; t++, xr += xStride, c += coefStep)
                a = Vector512.FusedMultiplyAdd(Vector512.Create(*c), Vector512.Load(xr), a);
            a.Store(output + d);
        }
        if (d + 8 <= headDim)
        {
            Vector256<float> a = add ? Vector256.Load(output + d) : default;
            float* xr = x + d;
            float* c = coef;
            for (int t = 0; t < count; t++, xr += xStride, c += coefStep)
                a = Vector256.FusedMultiplyAdd(Vector256.Create(*c), Vector256.Load(xr), a);
            a.Store(output + d);
            d += 8;
        }
        // The same steps as Accumulate2's (Vector128, then scalars), so one row gets the bits it gets there.
        if (d + 4 <= headDim)
        {
            Vector128<float> a = add ? Vector128.Load(output + d) : default;
            float* xr = x + d;
            float* c = coef;
            for (int t = 0; t < count; t++, xr += xStride, c += coefStep)
                a = Vector128.FusedMultiplyAdd(Vector128.Create(*c), Vector128.Load(xr), a);
            a.Store(output + d);
            d += 4;
        }
        for (; d < headDim; d++)
        {
            float a = add ? output[d] : 0;
            float* xr = x + d;
            for (int t = 0; t < count; t++, xr += xStride) a += coef[(long)t * coefStep] * *xr;
            output[d] = a;
        }
    }

    /// <summary>Fills dst[0, count) with value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fill(float* dst, int count, float value)
    {
        if (count > 0) new Span<float>(dst, count).Fill(value);
    }
}
