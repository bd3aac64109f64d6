using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;

namespace HeadMiner.Tests.Kernels;

public class EmbeddingTests
{
    [Theory]
    [InlineData(1), InlineData(7), InlineData(65), InlineData(768)]
    public void GatherCopiesTheRowsOfTheIds(int dim)
    {
        const int vocab = 50;
        var table = Inputs.Normal((ulong)dim, vocab * dim);
        int[] ids = [0, 49, 7, 7, 3];
        var output = new float[ids.Length * dim];
        Embedding.Gather(table, dim, ids, output);
        for (int t = 0; t < ids.Length; t++)
            Assert.Equal(table.AsSpan(ids[t] * dim, dim).ToArray(), output.AsSpan(t * dim, dim).ToArray());
    }

    [Fact]
    public void GatherOfAnUnknownIdNamesThePosition()
    {
        var table = new float[10 * 4];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Gather(table, 4, [1, 2, 3, 10], new float[16]));
        Assert.Contains("position 3", e.Message);
        Assert.Contains("10", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Gather(table, 4, [-1], new float[4]));
    }

    [Theory]
    [InlineData(1), InlineData(7), InlineData(65)]
    public void ScatterAddIsTheGradientOfGather(int dim)
    {
        // L = Σ g·Gather(table); dL/dtable[v] = Σ_{t: ids[t] = v} g[t] — repeated ids accumulate.
        const int vocab = 9;
        int[] ids = [4, 0, 4, 8, 4];
        var g = Inputs.Normal(5, ids.Length * dim);
        var expected = new double[vocab * dim];
        for (int t = 0; t < ids.Length; t++)
            for (int j = 0; j < dim; j++) expected[ids[t] * dim + j] += g[t * dim + j];
        var gradient = Enumerable.Repeat(0.5f, vocab * dim).ToArray(); // accumulated into
        Embedding.ScatterAdd(g, dim, ids, gradient);
        Close.Elementwise(gradient, expected.Select(v => v + 0.5).ToArray(), rtol: 1e-6, atol: 1e-6, what: "table gradient");
    }

    [Fact]
    public void ScatterAddWithABadIdChangesNothing()
    {
        var gradient = new float[5 * 2];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.ScatterAdd(new float[] { 1, 1, 1, 1 }, 2, [0, 5], gradient));
        Assert.Contains("position 1", e.Message);
        Assert.All(gradient, v => Assert.Equal(0f, v));
    }
}
