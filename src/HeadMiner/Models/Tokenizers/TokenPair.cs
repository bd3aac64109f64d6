namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// Two adjacent token ids packed into one long, the key of merge tables. The comparer matters: long's own hash is
/// low ^ high, which sends every (x, x) pair to bucket 0 and made a run of 100k spaces take seconds.
/// </summary>
internal static class TokenPair
{
    public static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    public static IEqualityComparer<long> Comparer { get; } = new MixingComparer();

    private sealed class MixingComparer : IEqualityComparer<long>
    {
        public bool Equals(long x, long y) => x == y;

        // Fibonacci hashing: one multiply spreads both halves over the top 32 bits.
        public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
    }
}
