namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// Cache blocking for the packed driver, sized for Zen 5 (48 KiB L1d, 1 MiB L2 per core, shared L3) and chosen by
/// measurement: a kc×Nr panel of packed B (128 KiB at kc = 1024, Nr = 32) is read from L2 while Mr×kc panels of A
/// stream from the mc×kc block in L2 (768 KiB at most); the kc×nc block of packed B (8 MiB) is reused from L3 across
/// the mc blocks. The depth block was 384 (chosen on one thread); on two threads a deeper one wins, because every kc
/// slice after the first sends each tile of C once more through the caches and, for a wide C (logits), through
/// memory: at kc 1024 a GPT-2 product of depth 768 is one slice. Measured 2 December 2026 on the Zen 5
/// (`bench gemm --quick`, 2 threads, kc 384 → 1024: 1024³ 224–228 → 279–287 GFLOP/s, 2048³ 331–337 → 350–375,
/// 128×768×768 210–216 → 244–253; `bench forward-profile`: GPT-2 1×1024's weight products 739–798 → 700–737 ms, the
/// Llama-3.2-1B shape's at 1×512 4.50–4.56 → 4.00–4.08 s, at 1×128 no change beyond noise). nc 2048 and 4096 timed
/// alike; 2048 keeps the per-thread B buffer at 8 MiB.
/// </summary>
internal static class GemmBlocking
{
    /// <summary>Largest depth of one packed block (k direction).</summary>
    public const int Kc = 1024;

    /// <summary>Largest height of one packed A block (a multiple of every kernel's Mr).</summary>
    public const int Mc = 192;

    /// <summary>Largest width of one packed B block (a multiple of every kernel's Nr).</summary>
    public const int Nc = 2048;

    /// <summary>
    /// Most floats of packed A (rows rounded up to Mr, times k) for the few-rows order, which keeps all of it in
    /// L2 (640 KiB of the 1 MiB) while the column strips of C go by: 128 tokens × depth 1280, for instance.
    /// </summary>
    public const int FewRowsPackedA = 160 * 1024;

    /// <summary>
    /// Most floats of packed A for the few-rows order when a product split over threads has at most
    /// <see cref="FewRowsMaxRows"/> rows, however deep (8 MiB, in L3: about 128 tokens × depth 16,000, or 1,000 × 2,048).
    /// The few-rows order gives each thread column strips, and each B panel, just packed, serves every tile while the
    /// next panel's B is fetched from memory through the kernel's depth loop; the general order packs each kc×nc block of
    /// B in a phase of its own, in which both threads wait on memory, and every row part then reads the packed panels
    /// back from L3. On one thread the general order already runs all tiles against each fresh panel and is kept (it was
    /// the faster at 128 × 2048 × 512 there). Measured on the Llama-3.2-1B shape at 128 tokens: docs/PERFORMANCE.md.
    /// </summary>
    public const int FewRowsMaxPackedA = 2 * 1024 * 1024;

    /// <summary>
    /// Most rows of a product split over threads that takes the few-rows order (with packed A within
    /// <see cref="FewRowsMaxPackedA"/>). Was <see cref="Mc"/> (192). GPT-2 small's forward with it at 1,024 against 192,
    /// alternating forwards in one process (`bench forward-profile --compare-few-rows`, 3 December 2026, medians):
    /// 0.82× at 1×256, 0.91× at 1×512, 0.92× at 1×1024, 0.93× at 8×128; the Llama-3.2-1B shape's at 1×512 0.96×. At
    /// 16×128 (2,048 rows) the two orders timed alike, so the limit stays at 1,024. Settable only so that benchmark
    /// can compare the two in one process.
    /// </summary>
    internal static int FewRowsMaxRows { get; set; } = DefaultFewRowsMaxRows;

    /// <summary>The limit <see cref="FewRowsMaxRows"/> has unless a benchmark changes it.</summary>
    public const int DefaultFewRowsMaxRows = 1024;

    /// <summary>Floats of the per-thread packed A buffer: room for either order's largest block.</summary>
    public const int PackedACapacity = Mc * Kc > FewRowsMaxPackedA ? Mc * Kc : FewRowsMaxPackedA; // ≥ FewRowsPackedA too

    /// <summary>Splits <paramref name="total"/> into the fewest blocks of at most <paramref name="max"/>, of nearly equal size rounded up to <paramref name="multiple"/>.</summary>
    public static int BalancedBlock(int total, int max, int multiple)
    {
        max = Math.Max(multiple, max / multiple * multiple);
        int blocks = (total + max - 1) / max;
        int size = (total + blocks - 1) / blocks;
        size = (size + multiple - 1) / multiple * multiple;
        return Math.Min(size, max);
    }
}
