using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tensors;

public class WorkerPoolTests
{
    private sealed class CountingBody(int count) : IParallelBody
    {
        public readonly int[] Runs = new int[count];
        public readonly HashSet<int> Threads = [];

        public void Invoke(int index)
        {
            Interlocked.Increment(ref Runs[index]);
            lock (Threads) Threads.Add(Environment.CurrentManagedThreadId);
        }
    }

    private static void WithThreads(int threads, Action action)
    {
        int saved = WorkerPool.MaxThreads;
        try
        {
            WorkerPool.MaxThreads = threads;
            action();
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(2, 2)]
    [InlineData(2, 1000)]
    [InlineData(4, 777)]
    public void EveryIndexRunsExactlyOnce(int threads, int count) => WithThreads(threads, () =>
    {
        for (int repeat = 0; repeat < 50; repeat++) // back-to-back calls reuse the same workers
        {
            var body = new CountingBody(count);
            WorkerPool.For(count, body);
            Assert.All(body.Runs, runs => Assert.Equal(1, runs));
        }
    });

    [Fact]
    public void ZeroOrNegativeCountRunsNothing()
    {
        var body = new CountingBody(1);
        WorkerPool.For(0, body);
        WorkerPool.For(-3, body);
        Assert.Equal(0, body.Runs[0]);
    }

    [Fact]
    public void NestedCallRunsInlineOnTheCallingThread() => WithThreads(2, () =>
    {
        var nestedOnOtherThread = 0;
        var outerSawRegion = 0;
        WorkerPool.For(8, i =>
        {
            if (WorkerPool.InsideParallelRegion) Interlocked.Increment(ref outerSawRegion);
            int outerThread = Environment.CurrentManagedThreadId;
            var inner = new CountingBody(16);
            WorkerPool.For(16, inner);
            Assert.All(inner.Runs, runs => Assert.Equal(1, runs));
            if (inner.Threads.Count != 1 || !inner.Threads.Contains(outerThread)) Interlocked.Increment(ref nestedOnOtherThread);
        });
        Assert.Equal(8, outerSawRegion);
        Assert.Equal(0, nestedOnOtherThread);
        Assert.False(WorkerPool.InsideParallelRegion);
    });

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ExceptionReachesTheCallerAndThePoolStillWorks(int threads) => WithThreads(threads, () =>
    {
        var e = Assert.Throws<InvalidOperationException>(() => WorkerPool.For(100, i =>
        {
            if (i == 37) throw new InvalidOperationException("body 37 failed");
        }));
        Assert.Equal("body 37 failed", e.Message);
        Assert.False(WorkerPool.InsideParallelRegion);

        var body = new CountingBody(500);
        WorkerPool.For(500, body);
        Assert.All(body.Runs, runs => Assert.Equal(1, runs));
    });

    [Fact]
    public void CallsFromSeveralThreadsAtOnceAllComplete() => WithThreads(2, () =>
    {
        var bodies = Enumerable.Range(0, 4).Select(_ => new CountingBody(300)).ToArray();
        Parallel.For(0, bodies.Length, t =>
        {
            for (int repeat = 0; repeat < 20; repeat++) WorkerPool.For(300, bodies[t]);
        });
        foreach (var body in bodies) Assert.All(body.Runs, runs => Assert.Equal(20, runs));
    });
}
