using HeadMiner.Models;
using HeadMiner.Models.Architectures;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Loading a BF16/F16 checkpoint and running it never widens a whole tensor: the managed bytes the calling thread
/// allocates for load + forward stay far below one widened copy of the token embedding, and no tensor's 16-bit
/// storage reports a widening. (Widening the embedding alone would allocate 4 MiB here; the budget is 1 MiB.)
/// </summary>
public class SixteenBitAllocationTests
{
    private static readonly ModelConfig Shape = RandomWeights.Gpt2SmallConfig() with
    {
        VocabSize = 16384,
        DModel = 64,
        Layers = 2,
        Heads = 4,
        KvHeads = 4,
        DHead = 16,
        DMlp = 256,
        ContextLength = 64,
        AttentionScale = 0.25f,
        AttentionWindow = new int[2],
        BosTokenId = 0,
        EosTokenId = 0,
    };

    [Theory]
    [InlineData(SafetensorsDType.BF16)]
    [InlineData(SafetensorsDType.F16)]
    public void LoadingAndAForwardPassWidenNoWholeTensor(SafetensorsDType dtype)
    {
        using var dir = TestPaths.NewTempDirectory();
        var writer = new SafetensorsWriter();
        foreach (var (name, tensor) in Gpt2Export.Tensors(Shape, RandomWeights.Create(Shape, seed: 4))) writer.Add(name, tensor, dtype);
        writer.Save(dir.File("model.safetensors"));
        File.WriteAllText(dir.File("config.json"), Gpt2Export.ConfigJson(Shape));
        var tokens = TinyModels.Tokens(Shape, 3, 5);
        long widenedEmbedding = (long)Shape.VocabSize * Shape.DModel * sizeof(float);

        RunOnce(dir.Path, tokens); // first use: JIT, static tables, the GEMM's per-thread buffers
        long before = GC.GetAllocatedBytesForCurrentThread();
        var half = RunOnce(dir.Path, tokens);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocated < widenedEmbedding / 4, $"load + forward allocated {allocated:N0} bytes; one widened embedding is {widenedEmbedding:N0}");
        Assert.All(half, h => Assert.Equal(0, h.Widenings));
        Assert.True(half.Count >= 3, $"only {half.Count} matrices are 16-bit");
    }

    /// <summary>Loads, runs one forward pass and returns the 16-bit storages of its matrices (norm weights and biases are small and may be widened whole).</summary>
    private static List<HalfStorage> RunOnce(string dir, int[] tokens)
    {
        using var loaded = ModelLoader.Load(dir);
        loaded.Model.Forward(tokens);
        var w = loaded.Model.Weights;
        var tensors = new List<Tensor?> { w.W_E, w.W_pos, w.W_U };
        foreach (var b in w.Blocks) tensors.AddRange([b.W_Q, b.W_K, b.W_V, b.W_O, b.W_in, b.W_out]);
        return tensors.Select(t => t?.Half).OfType<HalfStorage>().Distinct().ToList();
    }
}
