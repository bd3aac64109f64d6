using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// The native BF16 kernels (<c>Tensors/Native/headminer_bf16.c</c>, built by the library's build with
/// <c>-mavx512bf16</c>): .NET 10 exposes no AVX512_BF16 intrinsics, so VDPBF16PS is reached through P/Invoke.
/// <see cref="Available"/> is false, and the managed kernels run instead, when the CPU lacks AVX512_BF16, the library
/// was not built (no gcc) or cannot be loaded, or <c>HEADMINER_NATIVE_BF16=0</c> is set.
/// </summary>
internal static unsafe partial class NativeBf16
{
    private const string Library = "headminer_bf16";

    /// <summary>Element formats of B, as the native side numbers them.</summary>
    public const int FormatF32 = 0, FormatBf16 = 1, FormatF16 = 2;

    /// <summary>Whether the native kernels can run here (checked once).</summary>
    public static bool Available => s_available.Value;

    /// <summary>Why <see cref="Available"/> is false (for messages and docs); null when it is true.</summary>
    public static string? Unavailable => s_available.Value ? null : s_reason;

    private static string? s_reason;
    private static readonly Lazy<bool> s_available = new(Probe);

    /// <summary>AVX512_BF16 is CPUID leaf 7, sub-leaf 1, EAX bit 5; AVX-512 F/BW/VL (with OS support) come from .NET.</summary>
    public static bool CpuHasAvx512Bf16 =>
        Avx512F.IsSupported && Avx512BW.IsSupported && Avx512F.VL.IsSupported && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;

    private static bool Probe()
    {
        if (Environment.GetEnvironmentVariable("HEADMINER_NATIVE_BF16") == "0")
        {
            s_reason = "disabled by HEADMINER_NATIVE_BF16=0";
            return false;
        }
        if (!X86Base.IsSupported || !CpuHasAvx512Bf16)
        {
            s_reason = "the CPU has no AVX512_BF16";
            return false;
        }
        try
        {
            if (hm_bf16_supported() != 0) return true;
            s_reason = "the native library reports no AVX512_BF16";
            return false;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            s_reason = $"lib{Library}.so could not be loaded (not built? gcc with -mavx512bf16 is needed at build time)";
            return false;
        }
    }

    [LibraryImport(Library)]
    private static partial int hm_bf16_supported();

    [LibraryImport(Library)]
    public static partial void hm_round_bf16(float* src, ushort* dst, long n);

    /// <summary>uint32 elements of A packed by <see cref="hm_pack_a_bf16"/>.</summary>
    [LibraryImport(Library)]
    public static partial long hm_packed_a_bf16_size(int m, int k);

    /// <summary>Rounds and packs A's 12-row tiles [tile0, tile1) over all depth, for <see cref="hm_gemm_bf16dot"/>.</summary>
    [LibraryImport(Library)]
    public static partial void hm_pack_a_bf16(int m, int tile0, int tile1, int k, float* a, int lda, uint* apack);

    [LibraryImport(Library)]
    public static partial void hm_gemm_bf16dot(int m, int n0, int n1, int k, float alpha, uint* apack,
        void* b, int bFormat, int transB, long ldb, float beta, float* c, int ldc);

    /// <summary>uint32 elements of X packed by <see cref="hm_pack_x_bf16"/>.</summary>
    [LibraryImport(Library)]
    public static partial long hm_packed_x_bf16_size(int m, int k);

    /// <summary>Rounds and packs X's 32-token panels [panel0, panel1) over all depth, for <see cref="hm_gemm_bf16w_nt"/>.</summary>
    [LibraryImport(Library)]
    public static partial void hm_pack_x_bf16(int m, int panel0, int panel1, int k, float* x, int ldx, uint* xpack);

    /// <summary>Columns [n0, n1) of C = alpha · bf16(X) · Wᵀ + beta · C, W the BF16 weights [n, k] read in place.</summary>
    [LibraryImport(Library)]
    public static partial void hm_gemm_bf16w_nt(int m, int n0, int n1, int k, float alpha, uint* xpack, ushort* w,
        long ldw, float beta, float* c, int ldc);

    [LibraryImport(Library)]
    public static partial void hm_gemv_bf16w_f32(int n0, int n1, int k, float alpha, float* x, ushort* w, int transW,
        long ldw, float beta, float* y);

    [LibraryImport(Library)]
    public static partial void hm_gemv_bf16dot(int n0, int n1, int k, float alpha, float* x, ushort* w, int transW,
        long ldw, float beta, float* y);
}
