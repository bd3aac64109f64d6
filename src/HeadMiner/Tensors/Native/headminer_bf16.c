// BF16 kernels for HeadMiner (issue 15): .NET 10 has no AVX512_BF16 intrinsics, so the products that need
// VDPBF16PS live here, compiled with -mavx512bf16 by the library's build (HeadMiner.csproj, target
// BuildNativeBf16) and called through P/Invoke (Tensors/Kernels/NativeBf16.cs). The managed kernels are the
// fallback and the reference the tests hold these to.
//
// Layout conventions match Gemm.Multiply: row-major, C[m x n] = alpha * A[m x k] * op(B) + beta * C, A not
// transposed; B stored [k x n] (trans_b = 0) or [n x k] (trans_b = 1, nn.Linear's [out, in]). Each call computes the
// column range [n0, n1) so the caller can split the columns over its own worker threads. Scratch is per thread and
// kept between calls (no allocation once warm).
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

enum { FORMAT_F32 = 0, FORMAT_BF16 = 1, FORMAT_F16 = 2 };

// Micro-tile 12 x 32: 24 zmm accumulators, two B vectors and one broadcast per pair of depth steps.
#define MR 12
#define NR 32
// Depth block in elements (even): a 32-column B panel is KC/2 x 32 uint32 = 24 KiB, in L1 with A's 12-row sliver.
#define KC 384

EXPORT int hm_bf16_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

// ---- per-thread scratch --------------------------------------------------------------------------------------

static __thread void* t_scratch[3];
static __thread size_t t_scratch_size[3];

static void* scratch(int slot, size_t bytes)
{
    if (t_scratch_size[slot] < bytes)
    {
        free(t_scratch[slot]);
        size_t size = (bytes + 63) & ~(size_t)63;
        t_scratch[slot] = aligned_alloc(64, size);
        t_scratch_size[slot] = t_scratch[slot] ? size : 0;
    }
    return t_scratch[slot];
}

// ---- rounding --------------------------------------------------------------------------------------------------

// float -> bf16, round to nearest even; NaN stays NaN (quiet). The same rule as VCVTNEPS2BF16 and torch.
static inline uint16_t round_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float f16_to_float(uint16_t h) { return _cvtsh_ss(h); }

// Rounds n floats to bf16 (vectorised). VCVTNE2PS2BF16 reads a float32 subnormal as zero, so the scalar tail does
// too: subnormals become signed zeros (VDPBF16PS would flush them anyway).
EXPORT void hm_round_bf16(const float* src, uint16_t* dst, long n)
{
    long i = 0;
    for (; i + 32 <= n; i += 32)
    {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void*)(dst + i), (__m512i)v);
    }
    for (; i < n; i++)
    {
        uint32_t u;
        memcpy(&u, src + i, 4);
        dst[i] = (u & 0x7f800000u) == 0 ? (uint16_t)((u >> 16) & 0x8000u) : round_bf16(src[i]);
    }
}

// Element (kk, j) of op(B) as bf16 bits, any format.
static inline uint16_t b_bf16(const void* b, int format, int trans_b, long ldb, long kk, long j)
{
    long index = trans_b ? j * ldb + kk : kk * ldb + j;
    switch (format)
    {
        case FORMAT_BF16: return ((const uint16_t*)b)[index];
        case FORMAT_F16: return round_bf16(f16_to_float(((const uint16_t*)b)[index]));
        default: return round_bf16(((const float*)b)[index]);
    }
}

// ---- packing ---------------------------------------------------------------------------------------------------

// A rows [i0, i0 + rows) (rows <= MR), depth [k0, k0 + kc): packed as kc/2 groups of MR uint32, each the pair
// (a[i][2p], a[i][2p + 1]) in bf16, low half first; missing rows and an odd depth's last element are zero.
static void pack_a(const float* a, int lda, int i0, int rows, int k0, int kc, uint32_t* out, uint16_t* row_tmp)
{
    int pairs = (kc + 1) / 2;
    for (int i = 0; i < MR; i++)
    {
        if (i < rows)
        {
            hm_round_bf16(a + (long)(i0 + i) * lda + k0, row_tmp, kc);
            if (kc & 1) row_tmp[kc] = 0;
            const uint32_t* p32 = (const uint32_t*)row_tmp;
            for (int p = 0; p < pairs; p++) out[p * MR + i] = p32[p];
        }
        else
            for (int p = 0; p < pairs; p++) out[p * MR + i] = 0;
    }
}

// Transposes 16 rows of 16 uint32 in registers: on return r[e] holds element e of every input row.
static inline void transpose16x16(__m512i r[16])
{
    __m512i c[16];
    for (int g = 0; g < 4; g++)
    {
        __m512i a01 = _mm512_unpacklo_epi32(r[4 * g], r[4 * g + 1]), b01 = _mm512_unpackhi_epi32(r[4 * g], r[4 * g + 1]);
        __m512i a23 = _mm512_unpacklo_epi32(r[4 * g + 2], r[4 * g + 3]), b23 = _mm512_unpackhi_epi32(r[4 * g + 2], r[4 * g + 3]);
        // c[4g + e], 128-bit lane L: rows 4g..4g+3 of element 4L + e.
        c[4 * g] = _mm512_unpacklo_epi64(a01, a23);
        c[4 * g + 1] = _mm512_unpackhi_epi64(a01, a23);
        c[4 * g + 2] = _mm512_unpacklo_epi64(b01, b23);
        c[4 * g + 3] = _mm512_unpackhi_epi64(b01, b23);
    }
    for (int e = 0; e < 4; e++)
    {
        __m512i xlo = _mm512_shuffle_i32x4(c[e], c[4 + e], _MM_SHUFFLE(1, 0, 1, 0));
        __m512i xhi = _mm512_shuffle_i32x4(c[e], c[4 + e], _MM_SHUFFLE(3, 2, 3, 2));
        __m512i ylo = _mm512_shuffle_i32x4(c[8 + e], c[12 + e], _MM_SHUFFLE(1, 0, 1, 0));
        __m512i yhi = _mm512_shuffle_i32x4(c[8 + e], c[12 + e], _MM_SHUFFLE(3, 2, 3, 2));
        r[e] = _mm512_shuffle_i32x4(xlo, ylo, _MM_SHUFFLE(2, 0, 2, 0));
        r[4 + e] = _mm512_shuffle_i32x4(xlo, ylo, _MM_SHUFFLE(3, 1, 3, 1));
        r[8 + e] = _mm512_shuffle_i32x4(xhi, yhi, _MM_SHUFFLE(2, 0, 2, 0));
        r[12 + e] = _mm512_shuffle_i32x4(xhi, yhi, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

// B columns [j0, j0 + cols) (cols <= NR), depth [k0, k0 + kc): kc/2 groups of NR uint32 pairs.
static void pack_b(const void* b, int format, int trans_b, long ldb, int k0, int kc, int j0, int cols, uint32_t* out)
{
    int pairs = (kc + 1) / 2;
    if (format == FORMAT_BF16 && trans_b)
    {
        // nn.Linear layout: column j's depth run is contiguous, so a pair is one aligned-or-not 32-bit read.
        const uint16_t* bb = (const uint16_t*)b;
        int full = kc / 2;
        int done = 0;
        if (cols == NR)
        {
            // 16 columns x 16 pairs at a time through a register transpose (a scalar copy costs as much as the product).
            for (; done + 16 <= full; done += 16)
                for (int h = 0; h < 2; h++)
                {
                    __m512i r[16];
                    for (int j = 0; j < 16; j++)
                        r[j] = _mm512_loadu_si512((const void*)(bb + (long)(j0 + h * 16 + j) * ldb + k0 + 2 * done));
                    transpose16x16(r);
                    for (int q = 0; q < 16; q++) _mm512_store_si512((void*)(out + (done + q) * NR + h * 16), r[q]);
                }
        }
        for (int j = 0; j < NR; j++)
        {
            if (j < cols)
            {
                const uint16_t* col = bb + (long)(j0 + j) * ldb + k0;
                int p = done;
                for (; p < full; p++)
                {
                    uint32_t v;
                    memcpy(&v, col + 2 * p, 4);
                    out[p * NR + j] = v;
                }
                if (kc & 1) out[p * NR + j] = col[2 * p];
            }
            else
                for (int p = 0; p < pairs; p++) out[p * NR + j] = 0;
        }
        return;
    }
    if (format == FORMAT_BF16 && cols == NR)
    {
        // [k, n] layout: interleave rows 2p and 2p + 1 (16-bit unpack within 128-bit lanes, then fix the lane order).
        const uint16_t* bb = (const uint16_t*)b;
        const __m512i lo_index = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
        const __m512i hi_index = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
        for (int p = 0; p < pairs; p++)
        {
            long kk = k0 + 2 * p;
            __m512i r0 = _mm512_loadu_si512((const void*)(bb + kk * ldb + j0));
            __m512i r1 = (2 * p + 1 < kc) ? _mm512_loadu_si512((const void*)(bb + (kk + 1) * ldb + j0)) : _mm512_setzero_si512();
            __m512i lo = _mm512_unpacklo_epi16(r0, r1); // columns 0-3, 8-11, 16-19, 24-27
            __m512i hi = _mm512_unpackhi_epi16(r0, r1); // columns 4-7, 12-15, 20-23, 28-31
            _mm512_storeu_si512((void*)(out + p * NR), _mm512_permutex2var_epi64(lo, lo_index, hi));
            _mm512_storeu_si512((void*)(out + p * NR + 16), _mm512_permutex2var_epi64(lo, hi_index, hi));
        }
        return;
    }
    for (int p = 0; p < pairs; p++)
        for (int j = 0; j < NR; j++)
        {
            if (j >= cols) { out[p * NR + j] = 0; continue; }
            uint32_t lo = b_bf16(b, format, trans_b, ldb, k0 + 2 * p, j0 + j);
            uint32_t hi = 2 * p + 1 < kc ? b_bf16(b, format, trans_b, ldb, k0 + 2 * p + 1, j0 + j) : 0;
            out[p * NR + j] = lo | (hi << 16);
        }
}

// ---- micro-kernel ----------------------------------------------------------------------------------------------

// C tile [rows x cols] (rows <= MR, cols <= NR): first block: alpha * acc + beta * C (beta = 0: C not read); later
// blocks: C + alpha * acc.
static void kernel_12x32(int pairs, const uint32_t* pa, const uint32_t* pb, float* c, int ldc, int rows, int cols,
    float alpha, float beta, int first)
{
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < pairs; p++)
    {
        __m512bh b0 = (__m512bh)_mm512_load_si512((const void*)(pb + p * NR));
        __m512bh b1 = (__m512bh)_mm512_load_si512((const void*)(pb + p * NR + 16));
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++)
        {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)pa[p * MR + i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
        }
    }
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? (__mmask16)0xffff : cols <= 16 ? (__mmask16)0 : (__mmask16)((1u << (cols - 16)) - 1);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(first ? beta : 1.0f);
    int read_c = !first || beta != 0.0f;
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
    {
        if (i >= rows) break;
        float* row = c + (long)i * ldc;
        __m512 r0 = _mm512_mul_ps(acc[i][0], va), r1 = _mm512_mul_ps(acc[i][1], va);
        if (read_c)
        {
            r0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, row), vb, r0);
            r1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, row + 16), vb, r1);
        }
        _mm512_mask_storeu_ps(row, m0, r0);
        _mm512_mask_storeu_ps(row + 16, m1, r1);
    }
}

// ---- GEMM with bf16 arithmetic (VDPBF16PS) ---------------------------------------------------------------------

// Packed A for hm_gemm_bf16dot: the depth blocks of KC one after another; block pc holds m_blocks tiles of
// MR x pairs(pc) uint32 (pack_a's layout), so block pc starts m_blocks * MR * pc / 2 elements in (KC is even).
EXPORT long hm_packed_a_bf16_size(int m, int k) { return (long)((m + MR - 1) / MR) * MR * ((k + 1) / 2); }

// Rounds and packs the MR-row tiles [tile0, tile1) of A (all depth) into the layout above; tiles are independent,
// so the caller may spread them over threads.
EXPORT void hm_pack_a_bf16(int m, int tile0, int tile1, int k, const float* a, int lda, uint32_t* apack)
{
    int m_blocks = (m + MR - 1) / MR;
    uint16_t* row_tmp = (uint16_t*)scratch(2, (size_t)(KC + 2) * 2);
    if (!row_tmp) abort();
    for (int pc = 0; pc < k; pc += KC)
    {
        int kc = k - pc < KC ? k - pc : KC;
        int pairs = (kc + 1) / 2;
        uint32_t* block = apack + (size_t)m_blocks * MR * (pc / 2);
        for (int ib = tile0; ib < tile1; ib++)
        {
            int rows = m - ib * MR < MR ? m - ib * MR : MR;
            pack_a(a, lda, ib * MR, rows, pc, kc, block + (size_t)ib * MR * pairs, row_tmp);
        }
    }
}

// Asks for the lines [line0, line1) of the next strip's B rows (nn.Linear BF16 weights: each row's depth run
// contiguous) in L2, so that strip's packing reads from cache instead of waiting on memory row by row.
static inline void prefetch_strip(const uint16_t* rows, long ldb, int lines_per_row, int line0, int line1)
{
    for (int q = line0; q < line1; q++)
        _mm_prefetch((const char*)(rows + (long)(q / lines_per_row) * ldb) + (long)(q % lines_per_row) * 64, _MM_HINT_T1);
}

// Columns [n0, n1) of C = alpha * bf16(A) * bf16(op(B)) + beta * C: both operands rounded to bf16 (B as stored if
// already bf16), products exact in fp32, sums in fp32 (VDPBF16PS: two products per lane per step). A comes packed
// by hm_pack_a_bf16 (once per product, shared by every thread's column range). Each 32-column strip of B is packed
// over the whole depth at once (a weight row read start to end, as the hardware prefetcher likes), then every tile
// of C's strip runs over it, depth block by depth block, from L1; meanwhile the next strip's rows are prefetched.
EXPORT void hm_gemm_bf16dot(int m, int n0, int n1, int k, float alpha, const uint32_t* apack,
    const void* b, int b_format, int trans_b, long ldb, float beta, float* c, int ldc)
{
    if (m <= 0 || n1 <= n0) return;
    int m_blocks = (m + MR - 1) / MR;
    int all_pairs = (k + 1) / 2;
    uint32_t* bstrip = (uint32_t*)scratch(1, (size_t)all_pairs * NR * 4);
    if (!bstrip) abort();
    int blocks = (k + KC - 1) / KC;
    int prefetch = b_format == FORMAT_BF16 && trans_b;
    int lines_per_row = (int)(((long)k * 2 + 63) / 64);
    for (int j = n0; j < n1; j += NR)
    {
        int cols = n1 - j < NR ? n1 - j : NR;
        for (int pc = 0; pc < k; pc += KC)
            pack_b(b, b_format, trans_b, ldb, pc, k - pc < KC ? k - pc : KC, j, cols, bstrip + (size_t)(pc / 2) * NR);
        int next = j + NR, next_cols = n1 - next < NR ? n1 - next : NR;
        int lines = prefetch && next < n1 ? next_cols * lines_per_row : 0;
        int calls = blocks * m_blocks, per_call = (lines + calls - 1) / calls, line = 0;
        const uint16_t* next_rows = (const uint16_t*)b + (long)next * ldb;
        for (int pc = 0; pc < k; pc += KC)
        {
            int kc = k - pc < KC ? k - pc : KC;
            int pairs = (kc + 1) / 2;
            const uint32_t* block = apack + (size_t)m_blocks * MR * (pc / 2);
            for (int ib = 0; ib < m_blocks; ib++)
            {
                if (line < lines)
                {
                    int end = line + per_call < lines ? line + per_call : lines;
                    prefetch_strip(next_rows, ldb, lines_per_row, line, end);
                    line = end;
                }
                int rows = m - ib * MR < MR ? m - ib * MR : MR;
                kernel_12x32(pairs, block + (size_t)ib * MR * pairs, bstrip + (size_t)(pc / 2) * NR,
                    c + (long)ib * MR * ldc + j, ldc, rows, cols, alpha, beta, pc == 0);
            }
        }
    }
}

// ---- GEMM with the weights as the broadcast operand (nn.Linear BF16 weights, no weight packing) ----------------

// C = X · Wᵀ computed as Cᵀ = W · Xᵀ: a 32-bit broadcast of W[n, 2p : 2p + 2] is one aligned-or-not read from the
// weight row as stored, so the weights are read in place (MR rows at a time, stride ldw) and never packed; the
// activations, packed once per product (small: m × k), are the vector operand. A tile is MR weight rows × NR tokens
// and is transposed in registers on its way into C.

// Packed X: panels of NR tokens one after another, each over all depth: (k + 1) / 2 groups of NR uint32, group p
// holding token t's pair (x[t][2p], x[t][2p + 1]) in bf16, low half first; missing tokens and an odd depth's last
// high half are zero.
EXPORT long hm_packed_x_bf16_size(int m, int k) { return (long)((m + NR - 1) / NR) * NR * ((k + 1) / 2); }

// float -> bf16 as VCVTNE2PS2BF16 does it (a float32 subnormal reads as zero), for the scalar tails.
static inline uint16_t round_bf16_daz(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x7f800000u) == 0 ? (uint16_t)((u >> 16) & 0x8000u) : round_bf16(f);
}

// Rounds and packs the token panels [panel0, panel1) of X (m × k, row stride ldx) into the layout above; panels are
// independent, so the caller may spread them over threads. 16 tokens × 16 pairs at a time: each token's 32 floats
// rounded to 16 pairs in one instruction, then a register transpose puts each pair's 16 tokens in one vector.
EXPORT void hm_pack_x_bf16(int m, int panel0, int panel1, int k, const float* x, int ldx, uint32_t* xpack)
{
    int pairs = (k + 1) / 2;
    int vector_pairs = (k / 32) * 16; // pairs covered by whole 32-float loads
    for (int panel = panel0; panel < panel1; panel++)
    {
        uint32_t* out = xpack + (size_t)panel * pairs * NR;
        for (int h = 0; h < NR / 16; h++)
        {
            int t0 = panel * NR + h * 16;
            int tokens = m - t0 < 16 ? (m - t0 > 0 ? m - t0 : 0) : 16;
            for (int p = 0; p < vector_pairs; p += 16)
            {
                __m512i r[16];
                for (int j = 0; j < 16; j++)
                {
                    if (j < tokens)
                    {
                        const float* row = x + (long)(t0 + j) * ldx + 2 * p;
                        r[j] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + 16), _mm512_loadu_ps(row));
                    }
                    else
                        r[j] = _mm512_setzero_si512();
                }
                transpose16x16(r);
                for (int q = 0; q < 16; q++) _mm512_store_si512((void*)(out + (size_t)(p + q) * NR + h * 16), r[q]);
            }
            for (int p = vector_pairs; p < pairs; p++)
                for (int j = 0; j < 16; j++)
                {
                    uint32_t v = 0;
                    if (j < tokens)
                    {
                        const float* row = x + (long)(t0 + j) * ldx;
                        v = round_bf16_daz(row[2 * p]);
                        if (2 * p + 1 < k) v |= (uint32_t)round_bf16_daz(row[2 * p + 1]) << 16;
                    }
                    out[(size_t)p * NR + h * 16 + j] = v;
                }
        }
    }
}

// One tile: weight rows w[i] (i < MR; rows past `rows` repeat a valid row and are not stored) over `pairs` whole
// pairs (plus one last lone element when `odd`: its 16-bit read is zero-extended, never reading past the row),
// against a packed X panel; the result, transposed, goes to C[t][i] for tokens t < tokens and i < rows. First depth
// block: alpha * acc + beta * C (beta = 0: C not read); later blocks: C + alpha * acc. No software prefetch: the
// hardware prefetcher follows the MR row streams (measured: prefetching the next tile's rows changed nothing).
static void kernel_w12x32(int pairs, int odd, const uint16_t* const w[MR], const uint32_t* px, float* c, int ldc,
    int rows, int tokens, float alpha, float beta, int first)
{
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < pairs; p++)
    {
        __m512bh x0 = (__m512bh)_mm512_load_si512((const void*)(px + p * NR));
        __m512bh x1 = (__m512bh)_mm512_load_si512((const void*)(px + p * NR + 16));
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++)
        {
            int32_t pair;
            memcpy(&pair, w[i] + 2 * p, 4);
            __m512bh wv = (__m512bh)_mm512_set1_epi32(pair);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], wv, x0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], wv, x1);
        }
    }
    if (odd)
    {
        __m512bh x0 = (__m512bh)_mm512_load_si512((const void*)(px + pairs * NR));
        __m512bh x1 = (__m512bh)_mm512_load_si512((const void*)(px + pairs * NR + 16));
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++)
        {
            __m512bh wv = (__m512bh)_mm512_set1_epi32((int32_t)w[i][2 * pairs]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], wv, x0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], wv, x1);
        }
    }
    __mmask16 cols = (__mmask16)((1u << rows) - 1);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(first ? beta : 1.0f);
    int read_c = !first || beta != 0.0f;
    for (int h = 0; h < 2; h++)
    {
        __m512i r[16];
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) r[i] = _mm512_castps_si512(acc[i][h]);
        for (int i = MR; i < 16; i++) r[i] = _mm512_setzero_si512();
        transpose16x16(r); // r[l]: token 16h + l's values for the MR weight rows
        int count = tokens - 16 * h < 16 ? tokens - 16 * h : 16;
        for (int l = 0; l < count; l++)
        {
            float* row = c + (long)(16 * h + l) * ldc;
            __m512 v = _mm512_mul_ps(_mm512_castsi512_ps(r[l]), va);
            if (read_c) v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(cols, row), vb, v);
            _mm512_mask_storeu_ps(row, cols, v);
        }
    }
}

// Columns [n0, n1) of C (m × n, row stride ldc) = alpha * bf16(X) * Wᵀ + beta * C with W the BF16 weights [n, k]
// (row stride ldw) read in place and X packed by hm_pack_x_bf16 (once per product, shared by every thread's column
// range). Blocking: the tokens in blocks of up to 8 panels (256), the depth in blocks of kc elements such that the
// block's packed X (tokens × kc × 2 bytes, ≤ 512 KiB) stays in L2 while every MR-row weight sliver of the range runs
// over it, panel by panel. The blocking depends on m and k only, so every element is summed in the same order
// whatever the column split.
EXPORT void hm_gemm_bf16w_nt(int m, int n0, int n1, int k, float alpha, const uint32_t* xpack, const uint16_t* w,
    long ldw, float beta, float* c, int ldc)
{
    if (m <= 0 || n1 <= n0) return;
    int panels = (m + NR - 1) / NR;
    int all_pairs = (k + 1) / 2;
    int block_panels = panels < 8 ? panels : 8;
    int kc = (int)((512L * 1024 / 2) / ((long)block_panels * NR)) & ~31; // elements per depth block: 1024 or more
    if (kc >= k || k - kc < kc / 4) kc = k + (k & 1); // one block rather than a short last one
    for (int tb = 0; tb < panels; tb += block_panels)
    {
        int tb1 = tb + block_panels < panels ? tb + block_panels : panels;
        for (int pc = 0; pc < k; pc += kc)
        {
            int depth = k - pc < kc ? k - pc : kc;
            int pairs = depth / 2, odd = depth & 1;
            for (int s = n0; s < n1; s += MR)
            {
                int rows = n1 - s < MR ? n1 - s : MR;
                const uint16_t* wr[MR];
                for (int i = 0; i < MR; i++) wr[i] = w + (long)(s + (i < rows ? i : rows - 1)) * ldw + pc;
                for (int panel = tb; panel < tb1; panel++)
                {
                    int t0 = panel * NR;
                    kernel_w12x32(pairs, odd, wr, xpack + (size_t)panel * all_pairs * NR + (size_t)(pc / 2) * NR,
                        c + (long)t0 * ldc + s, ldc, rows, m - t0 < NR ? m - t0 : NR, alpha, beta, pc == 0);
                }
            }
        }
    }
}

// ---- GEMV: one row times 16-bit weights ------------------------------------------------------------------------

static inline float finish(float sum, float alpha, float beta, const float* y)
{
    float r = alpha * sum;
    return beta == 0.0f ? r : r + beta * *y;
}

// y[n0..n1) = alpha * x * op(W) + beta * y with W bf16, arithmetic in fp32: a bf16 is the high half of a float,
// so a 32-bit lane holding the pair (w[2p], w[2p+1]) gives w[2p] by a left shift and w[2p+1] by masking the low
// half: two instructions widen 32 weights, no shuffles. x is split into its even and odd elements to match.
EXPORT void hm_gemv_bf16w_f32(int n0, int n1, int k, float alpha, const float* x, const uint16_t* w, int trans_w,
    long ldw, float beta, float* y)
{
    if (n1 <= n0) return;
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    if (trans_w)
    {
        int pairs = (k + 1) / 2;
        int stride = ((pairs + 15) / 16) * 16; // zero-padded: a padded x element meets a masked-out (zero) weight
        float* xe = (float*)scratch(0, (size_t)(2 * stride) * 4);
        float* xo = xe + stride;
        for (int p = 0; p < pairs; p++)
        {
            xe[p] = x[2 * p];
            xo[p] = 2 * p + 1 < k ? x[2 * p + 1] : 0.0f;
        }
        for (int p = pairs; p < stride; p++) xe[p] = xo[p] = 0.0f;
        int full = k / 32; // 32 weights = 16 pairs per step
        int rest = k - full * 32;
        __mmask32 tail = rest ? (__mmask32)((1ull << rest) - 1) : 0;
        int j = n0;
        for (; j + 4 <= n1; j += 4)
        {
            const uint16_t* r0 = w + (long)j * ldw;
            const uint16_t* r1 = r0 + ldw;
            const uint16_t* r2 = r1 + ldw;
            const uint16_t* r3 = r2 + ldw;
            __m512 e0 = _mm512_setzero_ps(), o0 = e0, e1 = e0, o1 = e0, e2 = e0, o2 = e0, e3 = e0, o3 = e0;
            for (int s = 0; s <= full; s++)
            {
                __m512i v0, v1, v2, v3;
                if (s < full)
                {
                    v0 = _mm512_loadu_si512((const void*)(r0 + 32 * s));
                    v1 = _mm512_loadu_si512((const void*)(r1 + 32 * s));
                    v2 = _mm512_loadu_si512((const void*)(r2 + 32 * s));
                    v3 = _mm512_loadu_si512((const void*)(r3 + 32 * s));
                }
                else if (tail)
                {
                    v0 = _mm512_maskz_loadu_epi16(tail, r0 + 32 * s);
                    v1 = _mm512_maskz_loadu_epi16(tail, r1 + 32 * s);
                    v2 = _mm512_maskz_loadu_epi16(tail, r2 + 32 * s);
                    v3 = _mm512_maskz_loadu_epi16(tail, r3 + 32 * s);
                }
                else break;
                __m512 a = _mm512_loadu_ps(xe + 16 * s), b = _mm512_loadu_ps(xo + 16 * s);
                e0 = _mm512_fmadd_ps(a, _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), e0);
                o0 = _mm512_fmadd_ps(b, _mm512_castsi512_ps(_mm512_and_si512(v0, high)), o0);
                e1 = _mm512_fmadd_ps(a, _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)), e1);
                o1 = _mm512_fmadd_ps(b, _mm512_castsi512_ps(_mm512_and_si512(v1, high)), o1);
                e2 = _mm512_fmadd_ps(a, _mm512_castsi512_ps(_mm512_slli_epi32(v2, 16)), e2);
                o2 = _mm512_fmadd_ps(b, _mm512_castsi512_ps(_mm512_and_si512(v2, high)), o2);
                e3 = _mm512_fmadd_ps(a, _mm512_castsi512_ps(_mm512_slli_epi32(v3, 16)), e3);
                o3 = _mm512_fmadd_ps(b, _mm512_castsi512_ps(_mm512_and_si512(v3, high)), o3);
            }
            y[j] = finish(_mm512_reduce_add_ps(_mm512_add_ps(e0, o0)), alpha, beta, y + j);
            y[j + 1] = finish(_mm512_reduce_add_ps(_mm512_add_ps(e1, o1)), alpha, beta, y + j + 1);
            y[j + 2] = finish(_mm512_reduce_add_ps(_mm512_add_ps(e2, o2)), alpha, beta, y + j + 2);
            y[j + 3] = finish(_mm512_reduce_add_ps(_mm512_add_ps(e3, o3)), alpha, beta, y + j + 3);
        }
        for (; j < n1; j++)
        {
            const uint16_t* r0 = w + (long)j * ldw;
            __m512 e0 = _mm512_setzero_ps(), o0 = e0;
            for (int s = 0; s <= full; s++)
            {
                __m512i v0;
                if (s < full) v0 = _mm512_loadu_si512((const void*)(r0 + 32 * s));
                else if (tail) v0 = _mm512_maskz_loadu_epi16(tail, r0 + 32 * s);
                else break;
                e0 = _mm512_fmadd_ps(_mm512_loadu_ps(xe + 16 * s), _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), e0);
                o0 = _mm512_fmadd_ps(_mm512_loadu_ps(xo + 16 * s), _mm512_castsi512_ps(_mm512_and_si512(v0, high)), o0);
            }
            y[j] = finish(_mm512_reduce_add_ps(_mm512_add_ps(e0, o0)), alpha, beta, y + j);
        }
        return;
    }
    // [k, n] layout: a row of W holds 32 consecutive outputs per vector; even outputs come out of the shift, odd
    // ones out of the mask, and are interleaved once at the end of the depth loop.
    const __m512i even_index = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i odd_index = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int j = n0; j < n1; j += 64)
    {
        int cols = n1 - j < 64 ? n1 - j : 64;
        __mmask32 m0 = cols >= 32 ? 0xffffffffu : (__mmask32)((1ull << cols) - 1);
        __mmask32 m1 = cols <= 32 ? 0 : cols >= 64 ? 0xffffffffu : (__mmask32)((1ull << (cols - 32)) - 1);
        __m512 e0 = _mm512_setzero_ps(), o0 = e0, e1 = e0, o1 = e0;
        for (int kk = 0; kk < k; kk++)
        {
            const uint16_t* row = w + (long)kk * ldw + j;
            __m512 xv = _mm512_set1_ps(x[kk]);
            __m512i v0 = _mm512_maskz_loadu_epi16(m0, row);
            __m512i v1 = _mm512_maskz_loadu_epi16(m1, row + 32);
            e0 = _mm512_fmadd_ps(xv, _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), e0);
            o0 = _mm512_fmadd_ps(xv, _mm512_castsi512_ps(_mm512_and_si512(v0, high)), o0);
            e1 = _mm512_fmadd_ps(xv, _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)), e1);
            o1 = _mm512_fmadd_ps(xv, _mm512_castsi512_ps(_mm512_and_si512(v1, high)), o1);
        }
        float out[64];
        _mm512_storeu_ps(out, _mm512_permutex2var_ps(e0, even_index, o0));
        _mm512_storeu_ps(out + 16, _mm512_permutex2var_ps(e0, odd_index, o0));
        _mm512_storeu_ps(out + 32, _mm512_permutex2var_ps(e1, even_index, o1));
        _mm512_storeu_ps(out + 48, _mm512_permutex2var_ps(e1, odd_index, o1));
        for (int t = 0; t < cols; t++) y[j + t] = finish(out[t], alpha, beta, y + j + t);
    }
}

// y[n0..n1) = alpha * bf16(x) * op(W) + beta * y with W bf16 and bf16 arithmetic: x rounded to bf16 once, then one
// VDPBF16PS per 32 weights (nn.Linear layout); the [k, n] layout pairs rows 2p and 2p + 1 by a 16-bit unpack.
EXPORT void hm_gemv_bf16dot(int n0, int n1, int k, float alpha, const float* x, const uint16_t* w, int trans_w,
    long ldw, float beta, float* y)
{
    if (n1 <= n0) return;
    int padded = ((k + 31) / 32) * 32;
    uint16_t* xb = (uint16_t*)scratch(0, (size_t)(padded + 32) * 2);
    hm_round_bf16(x, xb, k);
    for (int i = k; i < padded; i++) xb[i] = 0;
    if (trans_w)
    {
        int full = k / 32;
        int rest = k - full * 32;
        __mmask32 tail = rest ? (__mmask32)((1ull << rest) - 1) : 0;
        int steps = full + (tail ? 1 : 0);
        int j = n0;
        for (; j + 4 <= n1; j += 4)
        {
            const uint16_t* r0 = w + (long)j * ldw;
            const uint16_t* r1 = r0 + ldw;
            const uint16_t* r2 = r1 + ldw;
            const uint16_t* r3 = r2 + ldw;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            int s = 0;
            // Two steps per iteration into separate accumulators: eight chains hide VDPBF16PS's latency.
            for (; s + 2 <= full; s += 2)
            {
                __m512bh xv = (__m512bh)_mm512_loadu_si512((const void*)(xb + 32 * s));
                __m512bh xw = (__m512bh)_mm512_loadu_si512((const void*)(xb + 32 * s + 32));
                a0 = _mm512_dpbf16_ps(a0, xv, (__m512bh)_mm512_loadu_si512((const void*)(r0 + 32 * s)));
                a1 = _mm512_dpbf16_ps(a1, xv, (__m512bh)_mm512_loadu_si512((const void*)(r1 + 32 * s)));
                a2 = _mm512_dpbf16_ps(a2, xv, (__m512bh)_mm512_loadu_si512((const void*)(r2 + 32 * s)));
                a3 = _mm512_dpbf16_ps(a3, xv, (__m512bh)_mm512_loadu_si512((const void*)(r3 + 32 * s)));
                b0 = _mm512_dpbf16_ps(b0, xw, (__m512bh)_mm512_loadu_si512((const void*)(r0 + 32 * s + 32)));
                b1 = _mm512_dpbf16_ps(b1, xw, (__m512bh)_mm512_loadu_si512((const void*)(r1 + 32 * s + 32)));
                b2 = _mm512_dpbf16_ps(b2, xw, (__m512bh)_mm512_loadu_si512((const void*)(r2 + 32 * s + 32)));
                b3 = _mm512_dpbf16_ps(b3, xw, (__m512bh)_mm512_loadu_si512((const void*)(r3 + 32 * s + 32)));
            }
            for (; s < steps; s++)
            {
                __mmask32 mk = s < full ? 0xffffffffu : tail;
                __m512bh xv = (__m512bh)_mm512_loadu_si512((const void*)(xb + 32 * s));
                a0 = _mm512_dpbf16_ps(a0, xv, (__m512bh)_mm512_maskz_loadu_epi16(mk, r0 + 32 * s));
                a1 = _mm512_dpbf16_ps(a1, xv, (__m512bh)_mm512_maskz_loadu_epi16(mk, r1 + 32 * s));
                a2 = _mm512_dpbf16_ps(a2, xv, (__m512bh)_mm512_maskz_loadu_epi16(mk, r2 + 32 * s));
                a3 = _mm512_dpbf16_ps(a3, xv, (__m512bh)_mm512_maskz_loadu_epi16(mk, r3 + 32 * s));
            }
            y[j] = finish(_mm512_reduce_add_ps(_mm512_add_ps(a0, b0)), alpha, beta, y + j);
            y[j + 1] = finish(_mm512_reduce_add_ps(_mm512_add_ps(a1, b1)), alpha, beta, y + j + 1);
            y[j + 2] = finish(_mm512_reduce_add_ps(_mm512_add_ps(a2, b2)), alpha, beta, y + j + 2);
            y[j + 3] = finish(_mm512_reduce_add_ps(_mm512_add_ps(a3, b3)), alpha, beta, y + j + 3);
        }
        for (; j < n1; j++)
        {
            const uint16_t* r0 = w + (long)j * ldw;
            __m512 a0 = _mm512_setzero_ps();
            for (int s = 0; s < steps; s++)
            {
                __mmask32 mk = s < full ? 0xffffffffu : tail;
                a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512((const void*)(xb + 32 * s)),
                    (__m512bh)_mm512_maskz_loadu_epi16(mk, r0 + 32 * s));
            }
            y[j] = finish(_mm512_reduce_add_ps(a0), alpha, beta, y + j);
        }
        return;
    }
    // [k, n] layout: rows 2p and 2p + 1 interleaved by 16-bit unpacks give the pairs of 32 outputs in the lane order
    // 0-3, 8-11, 16-19, 24-27 (lo) and 4-7, 12-15, 20-23, 28-31 (hi), restored once at the end.
    const uint32_t* xp = (const uint32_t*)xb;
    int pairs = (k + 1) / 2;
    for (int j = n0; j < n1; j += 32)
    {
        int cols = n1 - j < 32 ? n1 - j : 32;
        __mmask32 mk = cols >= 32 ? 0xffffffffu : (__mmask32)((1ull << cols) - 1);
        __m512 lo = _mm512_setzero_ps(), hi = lo;
        for (int p = 0; p < pairs; p++)
        {
            __m512i r0 = _mm512_maskz_loadu_epi16(mk, w + (long)(2 * p) * ldw + j);
            __m512i r1 = 2 * p + 1 < k ? _mm512_maskz_loadu_epi16(mk, w + (long)(2 * p + 1) * ldw + j) : _mm512_setzero_si512();
            __m512bh xv = (__m512bh)_mm512_set1_epi32((int)xp[p]);
            lo = _mm512_dpbf16_ps(lo, xv, (__m512bh)_mm512_unpacklo_epi16(r0, r1));
            hi = _mm512_dpbf16_ps(hi, xv, (__m512bh)_mm512_unpackhi_epi16(r0, r1));
        }
        float l[16], h[16], out[32];
        _mm512_storeu_ps(l, lo);
        _mm512_storeu_ps(h, hi);
        for (int lane = 0; lane < 4; lane++)
            for (int t = 0; t < 4; t++)
            {
                out[lane * 8 + t] = l[lane * 4 + t];
                out[lane * 8 + 4 + t] = h[lane * 4 + t];
            }
        for (int t = 0; t < cols; t++) y[j + t] = finish(out[t], alpha, beta, y + j + t);
    }
}
