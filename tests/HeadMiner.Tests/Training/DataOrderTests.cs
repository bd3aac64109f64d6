using HeadMiner.Training;

namespace HeadMiner.Tests.Training;

public class DataOrderTests
{
    [Fact]
    public void EveryEpochIsAPermutationAndEpochsDiffer()
    {
        var epochs = Enumerable.Range(0, 4).Select(e => DataOrder.Permutation(1000, seed: 7, e)).ToArray();
        foreach (var order in epochs) Assert.Equal(Enumerable.Range(0, 1000), order.Order());
        for (int a = 0; a < epochs.Length; a++)
            for (int b = a + 1; b < epochs.Length; b++) Assert.NotEqual(epochs[a], epochs[b]);
        Assert.NotEqual(Enumerable.Range(0, 1000), epochs[0]);
    }

    [Fact]
    public void SameSeedSameOrderOtherSeedOtherOrder()
    {
        Assert.Equal(DataOrder.Permutation(500, 11, 3), DataOrder.Permutation(500, 11, 3));
        Assert.NotEqual(DataOrder.Permutation(500, 11, 3), DataOrder.Permutation(500, 12, 3));
        // (seed, epoch) pairs are mixed, not XORed: (1, 0) and (0, 1) must not coincide.
        Assert.NotEqual(DataOrder.Permutation(500, 1, 0), DataOrder.Permutation(500, 0, 1));
    }

    [Fact]
    public void OrderIsPinned()
    {
        // The order depends only on SeededRandom (xoshiro256**, fixed by definition) and the epoch-seed mix, so these
        // values hold on every machine and .NET version (they were checked against an independent Python
        // implementation of xoshiro256** + SplitMix64 + Fisher–Yates). If this fails, resumed runs would see a
        // different order than the one they started with.
        Assert.Equal([7, 3, 8, 9, 2, 5, 4, 0, 6, 1], DataOrder.Permutation(10, seed: 2024, epoch: 0));
        Assert.Equal([1, 5, 9, 3, 4, 2, 0, 7, 8, 6], DataOrder.Permutation(10, seed: 2024, epoch: 1));
    }

    [Fact]
    public void StreamCrossesEpochsAndResumesFromAnyPosition()
    {
        const int n = 10;
        const ulong seed = 99;
        var order = new DataOrder(n, seed);
        var stream = Enumerable.Range(0, 45).Select(_ => order.Next()).ToArray();
        Assert.Equal((4, 5), (order.Epoch, order.Position));
        for (int e = 0; e < 4; e++) Assert.Equal(DataOrder.Permutation(n, seed, e), stream.Skip(e * n).Take(n));

        foreach (int taken in new[] { 0, 3, 10, 23, 30, 44 })
        {
            var resumed = new DataOrder(n, seed, epoch: taken / n, position: taken % n);
            var rest = Enumerable.Range(0, 45 - taken).Select(_ => resumed.Next());
            Assert.Equal(stream.Skip(taken), rest);
        }
        // A checkpoint taken just after the last example of an epoch (position = n) resumes with the next epoch.
        var atEnd = new DataOrder(n, seed, epoch: 1, position: n);
        Assert.Equal(stream.Skip(20).Take(n), Enumerable.Range(0, n).Select(_ => atEnd.Next()));
    }

    [Fact]
    public void BatchesSpanEpochBoundaries()
    {
        var order = new DataOrder(5, seed: 3);
        var batch = new int[4];
        var all = new List<int>();
        for (int i = 0; i < 5; i++)
        {
            order.NextBatch(batch);
            all.AddRange(batch);
        }
        var expected = Enumerable.Range(0, 4).SelectMany(e => DataOrder.Permutation(5, 3, e));
        Assert.Equal(expected, all);
        Assert.Equal((3, 5), (order.Epoch, order.Position));
    }

    [Fact]
    public void InvalidPositionsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataOrder(0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataOrder(10, 1, epoch: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataOrder(10, 1, position: 11));
    }
}
