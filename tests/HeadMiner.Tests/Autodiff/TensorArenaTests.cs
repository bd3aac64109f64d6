using HeadMiner.Models;
using HeadMiner.Tasks.Synthetic;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Autodiff;
using HeadMiner.Training;

namespace HeadMiner.Tests.Autodiff;

public class TensorArenaTests
{
    [Fact]
    public void ResetRecyclesBuffersOfTheSameSizeZeroed()
    {
        var arena = new TensorArena();
        var a = arena.Zeros([3, 7]);
        var b = arena.Rent(13);
        a.Span.Fill(2f);
        b.AsSpan().Fill(-1f);
        Assert.Equal(2, arena.LentCount);
        Assert.Equal(34, arena.HeldFloats);
        arena.Reset();
        Assert.Equal(0, arena.LentCount);
        var again = arena.Zeros([7, 3]);
        var other = arena.Rent(13);
        Assert.Same(GetArray(a), GetArray(again));
        Assert.Same(b, other);
        Assert.All(again.Span.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(other, v => Assert.Equal(0f, v));
        var fresh = arena.Rent(13); // both 13-float buffers are lent now: a new one
        Assert.NotSame(b, fresh);
        Assert.Equal(47, arena.HeldFloats);
    }

    private static float[] GetArray(Tensor t) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray<float>(t.Storage, out var segment) ? segment.Array! : throw new InvalidOperationException("not array-backed");

    [Fact]
    public void StepsOnAnArenaGiveTheSameLossesAndGradientsBitForBit()
    {
        // Two identical models, trained three steps: fresh allocations vs one arena recycled between steps. The
        // second step on the arena runs on buffers that hold the first step's values, so a kernel that relied on a
        // zeroed output would show here.
        var config = TrainingPreset.Repeats.Config with { DMlp = 37, VocabSize = 29 };
        var data = new RepeatedSegments(5, 1, config.VocabSize - 1).Generate(9, 3 * 12 + 1, 17);
        var plain = new Gpt2TrainingModel(config, seed: 21);
        var pooled = new Gpt2TrainingModel(config, seed: 21);
        var plainOptimizer = new AdamW(plain.TrainableParameters());
        var pooledOptimizer = new AdamW(pooled.TrainableParameters());
        var arena = new TensorArena();
        for (int step = 0; step < 3; step++)
        {
            var (ids, targets) = Batch(data, step, 3, 11);
            plain.ZeroGradients();
            var plainTape = new Tape();
            var plainLoss = plain.Loss(plainTape, ids, 3, 11, targets);
            plainTape.Backward(plainLoss);

            arena.Reset();
            pooled.ZeroGradients();
            var pooledTape = new Tape(arena);
            var pooledLoss = pooled.Loss(pooledTape, ids, 3, 11, targets);
            pooledTape.Backward(pooledLoss);

            Assert.Equal(plainLoss.Value.Span[0], pooledLoss.Value.Span[0]);
            for (int i = 0; i < plainOptimizer.Parameters.Count; i++)
                Assert.Equal(plainOptimizer.Parameters[i].Gradient.Span.ToArray(), pooledOptimizer.Parameters[i].Gradient.Span.ToArray());
            plainOptimizer.Step(1e-2);
            pooledOptimizer.Step(1e-2);
        }
        Assert.True(arena.LentCount > 0);
    }

    private static (int[] Ids, int[] Targets) Batch(SyntheticSequences data, int step, int sequences, int length)
    {
        var ids = new int[sequences * length];
        var targets = new int[ids.Length];
        for (int s = 0; s < sequences; s++)
        {
            var tokens = data.Tokens[step * sequences + s];
            tokens.AsSpan(0, length).CopyTo(ids.AsSpan(s * length, length));
            tokens.AsSpan(1, length).CopyTo(targets.AsSpan(s * length, length));
        }
        return (ids, targets);
    }
}
