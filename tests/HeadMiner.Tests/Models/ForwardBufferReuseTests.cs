using HeadMiner.Models;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Forwards of one size reuse one set of scratch buffers, even when a garbage collection runs between them (the large
/// logits of every forward trigger one): a warm forward allocates its logits and a few small arrays, not the
/// per-layer buffers again. Fresh memory is what made forwards slow on machines where each new page faults.
/// </summary>
public class ForwardBufferReuseTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void AWarmForwardAllocatesItsLogitsButNotItsScratchBuffersAgain(int extraTokens)
    {
        var config = TinyModels.LlamaLike() with { DModel = 96, DMlp = 352, VocabSize = 211 };
        var model = TinyModels.Create(config, seed: 11);
        int batch = 3, length = 37 + extraTokens;
        var tokens = new TokenBatch([.. Enumerable.Range(0, batch * length).Select(i => (i * 7 + 3) % config.VocabSize)], batch, length);
        int rows = batch * length;
        long logitsBytes = 4L * rows * config.VocabSize;
        // The per-layer buffers of one run: normed, q/k/v, z, attention out, MLP pre and gate, MLP out.
        long scratchBytes = 4L * rows * (3 * config.DModel + (config.Heads + 2 * config.KvHeads) * config.DHead + config.Heads * config.DHead + 2 * config.DMlp);
        long residualBytes = 4L * rows * config.DModel;

        long allocated = SteadyStateAllocations.Measure(() =>
        {
            model.Forward(tokens);
            GC.Collect(); // as the logits of a large forward would trigger
        }, callsPerWindow: 1);

        Assert.True(allocated >= logitsBytes, $"a forward allocated {allocated:N0} bytes, less than its logits ({logitsBytes:N0})");
        Assert.True(allocated < logitsBytes + 3 * residualBytes + 64 * 1024,
            $"a warm forward allocated {allocated:N0} bytes: logits {logitsBytes:N0}, its scratch buffers would be {scratchBytes:N0} more");
        Assert.True(scratchBytes > 3 * residualBytes + 64 * 1024, "the test's shape must make the scratch buffers stand out");
    }
}
