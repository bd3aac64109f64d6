namespace HeadMiner.Tests;

public class SteadyStateAllocationsTests
{
    [Fact]
    public void APerCallAllocationIsSeenInEveryWindow()
    {
        byte[]? sink = null;
        long bytes = SteadyStateAllocations.Measure(() => sink = new byte[100]);
        Assert.True(bytes >= 10 * 100, $"10 calls allocating 100 bytes each measured {bytes} bytes");
        Assert.NotNull(sink);
    }
}
