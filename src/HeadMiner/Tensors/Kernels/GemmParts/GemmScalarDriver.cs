namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>The portable fallback (no 256-bit FMA vectors): a plain loop over the sub-block C[i0..i0+m, j0..j0+n].</summary>
internal static unsafe class GemmScalarDriver
{
    public static void Run(in GemmOperands op, int i0, int m, int j0, int n)
    {
        if (op.BHalf != null)
        {
            RunHalfB(op, i0, m, j0, n);
            return;
        }
        for (int i = i0; i < i0 + m; i++)
        {
            float* aRow = op.A + i * op.AOuter;
            float* cRow = op.C + i * op.Ldc;
            for (int j = j0; j < j0 + n; j++)
            {
                float* bColumn = op.B + j * op.BOuter;
                float sum = 0;
                for (int p = 0; p < op.K; p++) sum += aRow[p * op.ADepth] * bColumn[p * op.BDepth];
                cRow[j] = op.Beta == 0 ? op.Alpha * sum : MathF.FusedMultiplyAdd(sum, op.Alpha, op.Beta * cRow[j]);
            }
        }
    }

    /// <summary>The same loop reading a 16-bit B, each value widened as it is read.</summary>
    private static void RunHalfB(in GemmOperands op, int i0, int m, int j0, int n)
    {
        for (int i = i0; i < i0 + m; i++)
        {
            float* aRow = op.A + i * op.AOuter;
            float* cRow = op.C + i * op.Ldc;
            for (int j = j0; j < j0 + n; j++)
            {
                float sum = 0;
                for (int p = 0; p < op.K; p++) sum += aRow[p * op.ADepth] * op.BAt(p, j);
                cRow[j] = op.Beta == 0 ? op.Alpha * sum : MathF.FusedMultiplyAdd(sum, op.Alpha, op.Beta * cRow[j]);
            }
        }
    }
}
