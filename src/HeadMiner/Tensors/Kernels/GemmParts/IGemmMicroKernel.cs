namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// A register-blocked micro-kernel: one Mr×Nr tile of C from an Mr×kc panel of packed A and a kc×Nr panel of
/// packed B. Static abstract members let the blocked driver be specialised per kernel by the JIT (no virtual calls).
/// </summary>
internal interface IGemmMicroKernel
{
    /// <summary>Rows of C per tile (the packed A panel's width).</summary>
    static abstract int Mr { get; }

    /// <summary>Columns of C per tile (the packed B panel's width).</summary>
    static abstract int Nr { get; }

    /// <summary>
    /// C[r, 0..Nr) = alpha · (A·B)[r, ·] + beta · C[r, ·] for r in [0, rows). All Nr columns are written;
    /// beta = 0 never reads C. <paramref name="a"/> holds kc groups of Mr values, <paramref name="b"/> kc groups of Nr.
    /// Along the way it requests the lines of <paramref name="prefetch"/> into L2, spread over the depth.
    /// </summary>
    static abstract unsafe void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, int rows, GemmPrefetch prefetch);
}
