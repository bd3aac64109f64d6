using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tensors;

[Collection(ThreadSettingCollection.Name)]
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

    /// <summary>Bodies run by a worker take 3 ms, the caller's 0.2 ms: the caller runs out of work first and must wait.</summary>
    private sealed class WorkerHeavyBody(int count, int callerThread) : IParallelBody
    {
        public readonly int[] Finished = new int[count];
        public int RunByWorkers;

        public void Invoke(int index)
        {
            if (Environment.CurrentManagedThreadId == callerThread)
            {
                Thread.Sleep(TimeSpan.FromMilliseconds(0.2));
            }
            else
            {
                Interlocked.Increment(ref RunByWorkers);
                Thread.Sleep(3);
            }
            Volatile.Write(ref Finished[index], 1);
        }
    }

    [Fact]
    public void ReturnsOnlyAfterEveryBodyFinishedEvenWhenThreadsSleepBetweenCalls() => WithThreads(2, () =>
    {
        // Worker bodies outlast the caller's polling, and the pauses outlast the workers' polling, so both sides
        // go through their sleep-and-wake paths as well as the fast ones.
        int runByWorkers = 0;
        for (int repeat = 0; repeat < 30; repeat++)
        {
            var body = new WorkerHeavyBody(8, Environment.CurrentManagedThreadId);
            WorkerPool.For(8, body);
            Assert.All(body.Finished, done => Assert.Equal(1, done));
            runByWorkers += body.RunByWorkers;
            if (repeat % 3 == 0) Thread.Sleep(1);
        }
        Assert.True(runByWorkers > 0, "no body ran on a worker thread");
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
