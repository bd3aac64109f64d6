namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// Cache blocking for the packed driver, sized for Zen 5 (48 KiB L1d, 1 MiB L2 per core, shared L3) and chosen by
/// measurement (kc 256/384/512/768 × mc 96–480 × nc 1024–4096 on 2048³ and the GPT-2 shapes): a kc×Nr panel of
/// packed B (48 KiB at kc = 384, Nr = 32) is read from L1/L2 while Mr×kc panels of A stream from the mc×kc block
/// in L2 (288 KiB); the kc×nc block of packed B is reused from L2/L3 across the mc blocks. A deeper kc means fewer
/// round trips of C through the caches, which outweighed the B panel overflowing L1 a little.
/// </summary>
internal static class GemmBlocking
{
    /// <summary>Largest depth of one packed block (k direction).</summary>
    public const int Kc = 384;

    /// <summary>Largest height of one packed A block (a multiple of every kernel's Mr).</summary>
    public const int Mc = 192;

    /// <summary>Largest width of one packed B block (a multiple of every kernel's Nr).</summary>
    public const int Nc = 4096;

    /// <summary>
    /// Most floats of packed A (rows rounded up to Mr, times k) for the few-rows order, which keeps all of it in
    /// L2 (640 KiB of the 1 MiB) while the column strips of C go by: 128 tokens × depth 1280, for instance.
    /// </summary>
    public const int FewRowsPackedA = 160 * 1024;

    /// <summary>
    /// Most floats of packed A for the few-rows order when a product split over threads has at most <see cref="Mc"/>
    /// rows, however deep (8 MiB: 128 tokens × depth 16,384). With so few rows the general order's threads split the
    /// rows into parts of one or two tiles, and each part then reads every packed B panel back from L3 for one or two
    /// tiles of work; the few-rows order instead gives each thread column strips, and each B panel, just packed, serves
    /// every tile. On one thread the general order already runs all tiles against each fresh panel and is kept (it was
    /// the faster at 128 × 2048 × 512 there). Measured on the Llama-3.2-1B shape at 128 tokens: docs/PERFORMANCE.md.
    /// </summary>
    public const int FewRowsMaxPackedA = 2 * 1024 * 1024;

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
