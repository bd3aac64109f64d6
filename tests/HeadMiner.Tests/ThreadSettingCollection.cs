namespace HeadMiner.Tests;

/// <summary>
/// Tests that change the process-wide <c>WorkerPool.MaxThreads</c> run alone: run concurrently, one class could switch
/// the thread count while another measures allocations or compares 1- and 2-thread results.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadSettingCollection
{
    public const string Name = "process-wide thread setting";
}
