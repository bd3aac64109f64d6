using System.Runtime.InteropServices;

namespace HeadMiner.Bench;

/// <summary>
/// OpenBLAS's cblas_sgemm, loaded at run time so the benchmarks still run (without a reference) where it is absent.
/// </summary>
internal sealed unsafe class OpenBlas
{
    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly delegate* unmanaged<int, void> _setNumThreads;
    private readonly delegate* unmanaged<byte*> _getCoreName;

    private OpenBlas(nint library)
    {
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)
            NativeLibrary.GetExport(library, "cblas_sgemm");
        _setNumThreads = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(library, "openblas_set_num_threads");
        _getCoreName = (delegate* unmanaged<byte*>)NativeLibrary.GetExport(library, "openblas_get_corename");
    }

    /// <summary>
    /// Loads libopenblas.so.0, or returns null. OPENBLAS_CORETYPE is removed from the native environment first:
    /// OpenBLAS reads it once, when the library loads, and a forced older core type (e.g. Haswell) would halve its
    /// speed on an AVX-512 machine. Environment.SetEnvironmentVariable does not reach the native environment, so
    /// this calls libc's unsetenv.
    /// </summary>
    public static OpenBlas? TryLoad()
    {
        if (OperatingSystem.IsLinux()) _ = unsetenv("OPENBLAS_CORETYPE");
        foreach (string name in new[] { "libopenblas.so.0", "libopenblas.so", "libopenblas" })
            if (NativeLibrary.TryLoad(name, out nint library))
                return new OpenBlas(library);
        return null;
    }

    [DllImport("libc", EntryPoint = "unsetenv")]
    private static extern int unsetenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    public string CoreName => Marshal.PtrToStringUTF8((nint)_getCoreName()) ?? "?";

    public void SetThreads(int threads) => _setNumThreads(threads);

    /// <summary>Row-major cblas_sgemm with the same argument order as <c>Gemm.Multiply</c>.</summary>
    public void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb,
        float beta, float* c, int ldc)
    {
        const int RowMajor = 101, NoTrans = 111, Trans = 112;
        _sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}
