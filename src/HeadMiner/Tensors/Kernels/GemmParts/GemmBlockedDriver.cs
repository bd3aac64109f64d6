using System.Runtime.CompilerServices;

namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// The Goto/BLIS macro loops around one micro-kernel, single-threaded, over the sub-block C[i0..i0+m, j0..j0+n]:
/// nc-wide column blocks → kc-deep slices (packed B) → mc-high row blocks (packed A) → Nr-wide panels → Mr-high tiles.
/// Each B panel is packed on first use (during the first row block), so it is hot in L1 when the kernel reads it.
/// Short-and-wide products (few rows, e.g. one transformer batch of tokens) take <see cref="RunFewRows"/> instead.
/// </summary>
internal static unsafe class GemmBlockedDriver<TKernel> where TKernel : IGemmMicroKernel
{
    public static void Run(in GemmOperands op, int i0, int m, int j0, int n, GemmPackBuffers buffers)
    {
        int mPadded = (m + TKernel.Mr - 1) / TKernel.Mr * TKernel.Mr;
        if ((long)mPadded * op.K <= GemmBlocking.FewRowsPackedA)
            RunFewRows(op, i0, m, j0, n, mPadded, buffers);
        else
            RunGeneral(op, i0, m, j0, n, buffers);
    }

    /// <summary>
    /// When all of op(A) for these rows fits in L2 once packed, pack it once, then finish one Nr-wide column strip of
    /// C over the whole depth before moving on: the strip of C (m×Nr) stays in L1/L2 across the kc slices instead of
    /// making a round trip to L3 per slice, and each kc×Nr slice of B is packed once, right before its use.
    /// </summary>
    private static void RunFewRows(in GemmOperands op, int i0, int m, int j0, int n, int mPadded, GemmPackBuffers buffers)
    {
        int mr = TKernel.Mr, nr = TKernel.Nr;
        int k = op.K;
        int kcBlock = GemmBlocking.BalancedBlock(k, GemmBlocking.Kc, 1);
        float* packedA = buffers.A, panelB = buffers.B, edge = buffers.EdgeTile;

        for (int pc = 0; pc < k; pc += kcBlock)
        {
            int kc = Math.Min(kcBlock, k - pc);
            GemmPacking.Pack(op.A + i0 * op.AOuter + pc * op.ADepth, op.AOuter, op.ADepth, m, kc, mr, packedA + (nint)mPadded * pc);
        }

        for (int jr = 0; jr < n; jr += nr)
        {
            int cols = Math.Min(nr, n - jr);
            float* cPanel = op.C + i0 * op.Ldc + j0 + jr;
            for (int pc = 0; pc < k; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, k - pc);
                float beta = pc == 0 ? op.Beta : 1f;
                GemmPacking.PackPanel(op.B + (j0 + jr) * op.BOuter + pc * op.BDepth, op.BOuter, op.BDepth, cols, kc, nr, panelB);
                float* sliceA = packedA + (nint)mPadded * pc;
                for (int ir = 0; ir < m; ir += mr)
                {
                    int rows = Math.Min(mr, m - ir);
                    float* cTile = cPanel + ir * op.Ldc;
                    if (cols == nr)
                    {
                        TKernel.Run(kc, sliceA + (nint)ir * kc, panelB, cTile, op.Ldc, op.Alpha, beta, rows);
                    }
                    else
                    {
                        TKernel.Run(kc, sliceA + (nint)ir * kc, panelB, edge, nr, 1f, 0f, rows);
                        MergeEdgeTile(edge, nr, cTile, op.Ldc, rows, cols, op.Alpha, beta);
                    }
                }
            }
        }
    }

    private static void RunGeneral(in GemmOperands op, int i0, int m, int j0, int n, GemmPackBuffers buffers)
    {
        int mr = TKernel.Mr, nr = TKernel.Nr;
        int k = op.K;
        int kcBlock = GemmBlocking.BalancedBlock(k, GemmBlocking.Kc, 1);
        int mcBlock = GemmBlocking.BalancedBlock(m, GemmBlocking.Mc, mr);
        int ncBlock = GemmBlocking.BalancedBlock(n, GemmBlocking.Nc, nr);
        float* packedA = buffers.A, packedB = buffers.B, edge = buffers.EdgeTile;

        for (int jc = 0; jc < n; jc += ncBlock)
        {
            int nc = Math.Min(ncBlock, n - jc);
            for (int pc = 0; pc < k; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, k - pc);
                float beta = pc == 0 ? op.Beta : 1f; // later slices accumulate onto the first
                for (int ic = 0; ic < m; ic += mcBlock)
                {
                    int mc = Math.Min(mcBlock, m - ic);
                    GemmPacking.Pack(op.A + (i0 + ic) * op.AOuter + pc * op.ADepth, op.AOuter, op.ADepth, mc, kc, mr, packedA);
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int cols = Math.Min(nr, nc - jr);
                        float* panelB = packedB + (nint)jr * kc;
                        if (ic == 0)
                            GemmPacking.PackPanel(op.B + (j0 + jc + jr) * op.BOuter + pc * op.BDepth, op.BOuter, op.BDepth, cols, kc, nr, panelB);
                        float* cPanel = op.C + (i0 + ic) * op.Ldc + j0 + jc + jr;
                        for (int ir = 0; ir < mc; ir += mr)
                        {
                            int rows = Math.Min(mr, mc - ir);
                            float* cTile = cPanel + ir * op.Ldc;
                            if (cols == nr)
                            {
                                TKernel.Run(kc, packedA + (nint)ir * kc, panelB, cTile, op.Ldc, op.Alpha, beta, rows);
                            }
                            else
                            {
                                TKernel.Run(kc, packedA + (nint)ir * kc, panelB, edge, nr, 1f, 0f, rows);
                                MergeEdgeTile(edge, nr, cTile, op.Ldc, rows, cols, op.Alpha, beta);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>The kernel's formula, C = fma(acc, alpha, beta·C), on the valid part of a tile computed aside.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MergeEdgeTile(float* tile, int tileStride, float* c, nint ldc, int rows, int cols, float alpha, float beta)
    {
        for (int r = 0; r < rows; r++)
        {
            float* t = tile + r * tileStride;
            float* cr = c + r * ldc;
            if (beta == 0)
                for (int j = 0; j < cols; j++) cr[j] = t[j] * alpha;
            else
                for (int j = 0; j < cols; j++) cr[j] = MathF.FusedMultiplyAdd(t[j], alpha, beta * cr[j]);
        }
    }
}
