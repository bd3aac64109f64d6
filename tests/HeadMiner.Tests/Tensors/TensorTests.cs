using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tensors;

public class TensorTests
{
    /// <summary>[2, 3, 4] holding 0, 1, …, 23: element [i, j, k] = 12i + 4j + k.</summary>
    private static Tensor Iota() => Tensor.FromSpan(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 2, 3, 4);

    [Fact]
    public void ShapeStridesAndIndexing()
    {
        var t = Iota();
        Assert.Equal([2, 3, 4], t.Shape.ToArray());
        Assert.Equal([12, 4, 1], t.Strides.ToArray());
        Assert.Equal(24, t.Length);
        Assert.True(t.IsContiguous);
        Assert.Equal(23f, t[1, 2, 3]);
        Assert.Equal(4, t.Dim(-1));
        Assert.Throws<IndexOutOfRangeException>(() => t[2, 0, 0]);
        Assert.Throws<ArgumentException>(() => t[0, 0]);
    }

    [Fact]
    public void ViewsShareStorage()
    {
        var t = Iota();
        var slice = t.Slice(1, 1, 2);      // [2, 2, 4]
        var select = t.Select(0, 1);       // [3, 4]
        var transposed = t.Transpose(0, 2); // [4, 3, 2]
        var permuted = t.Permute(2, 0, 1); // [4, 2, 3]
        var reshaped = t.Reshape(6, -1);   // [6, 4]

        slice[1, 0, 2] = -1f;              // = t[1, 1, 2]
        Assert.Equal(-1f, t[1, 1, 2]);
        Assert.Equal(-1f, select[1, 2]);
        Assert.Equal(-1f, transposed[2, 1, 1]);
        Assert.Equal(-1f, permuted[2, 1, 1]);
        Assert.Equal(-1f, reshaped[4, 2]);
        reshaped[0, 0] = 100f;
        Assert.Equal(100f, t[0, 0, 0]);
        Assert.True(t.Storage.Span == slice.Storage.Span);
    }

    [Fact]
    public void SliceSemantics()
    {
        var t = Iota();
        var s = t.Slice(-1, 1, 2); // last axis, columns 1..2
        Assert.Equal([2, 3, 2], s.Shape.ToArray());
        Assert.False(s.IsContiguous);
        Assert.Equal(new float[] { 1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22 }, s.ToArray());
        var rows = t.Slice(0, 1, 1); // a leading-axis slice stays contiguous
        Assert.True(rows.IsContiguous);
        Assert.Equal(12, rows.Offset);
        var empty = t.Slice(2, 1, 0); // [2, 3, 0]: no elements, so contiguous whatever its strides say
        Assert.Equal(0, empty.Length);
        Assert.True(empty.IsContiguous);
        Assert.Equal(0, empty.Span.Length);
        Assert.Equal([0], empty.Reshape(0).Shape.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Slice(1, 2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Slice(3, 0, 1));
    }

    [Fact]
    public void SelectDropsTheAxis()
    {
        var t = Iota();
        var head = t.Select(1, 2); // [2, 4]: t[i, 2, k]
        Assert.Equal([2, 4], head.Shape.ToArray());
        Assert.Equal(new float[] { 8, 9, 10, 11, 20, 21, 22, 23 }, head.ToArray());
        var column = t.Select(2, 3); // [2, 3], stride 4 and 12
        Assert.False(column.IsContiguous);
        Assert.Equal(new float[] { 3, 7, 11, 15, 19, 23 }, column.ToArray());
        var scalar = t.Select(0, 1).Select(0, 1).Select(0, 1);
        Assert.Equal(0, scalar.Rank);
        Assert.Equal(17f, scalar.ToArray().Single());
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Select(0, 2));
    }

    [Fact]
    public void TransposeAndPermuteReorderElements()
    {
        var t = Iota();
        var tr = t.Transpose(1, 2); // [2, 4, 3]
        Assert.Equal([2, 4, 3], tr.Shape.ToArray());
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++) Assert.Equal(t[i, j, k], tr[i, k, j]);
        var p = t.Permute(1, 2, 0); // result axis a = source axis order[a]: [3, 4, 2]
        Assert.Equal([3, 4, 2], p.Shape.ToArray());
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++) Assert.Equal(t[i, j, k], p[j, k, i]);
        Assert.Equal(new float[] { 0, 12, 1, 13, 2, 14, 3, 15 }, p.Select(0, 0).ToArray());
        Assert.Throws<ArgumentException>(() => t.Permute(0, 0, 1));
        Assert.Throws<ArgumentException>(() => t.Permute(0, 1));
    }

    [Fact]
    public void ReshapeOfContiguousSharesAndOfStridedThrows()
    {
        var t = Iota();
        var r = t.Reshape(4, 3, 2);
        Assert.Equal(Enumerable.Range(0, 24).Select(i => (float)i), r.ToArray());
        Assert.Equal([6, 4], t.Reshape(-1, 4).Shape.ToArray());
        Assert.Throws<ArgumentException>(() => t.Reshape(5, -1));
        Assert.Throws<ArgumentException>(() => t.Reshape(-1, -1));
        Assert.Throws<ArgumentException>(() => t.Reshape(25));
        Assert.Throws<InvalidOperationException>(() => t.Transpose(0, 1).Reshape(24));
        Assert.Throws<InvalidOperationException>(() => t.Slice(2, 0, 2).Reshape(12));
        // A contiguous slice with an offset reshapes in place.
        var second = t.Slice(0, 1, 1).Reshape(3, 4);
        Assert.Equal(12f, second[0, 0]);
    }

    [Fact]
    public void ContiguousCopiesOnlyWhenNeeded()
    {
        var t = Iota();
        Assert.Same(t, t.Contiguous());
        var rows = t.Slice(0, 1, 1);
        Assert.Same(rows, rows.Contiguous());
        var strided = t.Transpose(0, 2);
        var copy = strided.Contiguous();
        Assert.NotSame(strided, copy);
        Assert.True(copy.IsContiguous);
        Assert.Equal(strided.ToArray(), copy.ToArray());
        copy[0, 0, 0] = -5f; // the copy shares nothing
        Assert.Equal(0f, t[0, 0, 0]);
        Assert.Throws<InvalidOperationException>(() => strided.Span.Length);
        var clone = t.Clone(); // Clone always copies
        clone[0, 0, 0] = 7f;
        Assert.Equal(0f, t[0, 0, 0]);
    }

    [Fact]
    public void CopyToBetweenStridedViews()
    {
        var source = Iota();
        var destination = Tensor.Zeros(4, 3, 2);
        // Write source transposed into a transposed view of the destination: destination ends up equal to source's layout.
        source.Transpose(0, 2).CopyTo(destination);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++) Assert.Equal(source[i, j, k], destination[k, j, i]);

        var target = Tensor.Full(-1f, 2, 3, 8);
        var everyOther = target.Reshape(2, 3, 4, 2).Select(3, 1); // [2, 3, 4] with stride 2 on the last axis
        source.CopyTo(everyOther);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 8; k++) Assert.Equal(k % 2 == 1 ? source[i, j, k / 2] : -1f, target[i, j, k]);
        Assert.Throws<ArgumentException>(() => source.CopyTo(Tensor.Zeros(2, 4, 3)));
    }

    [Fact]
    public void CreationChecksSizes()
    {
        Assert.Throws<ArgumentException>(() => Tensor.FromMemory(new float[11], 3, 4));
        var exact = Tensor.FromMemory(new float[12], 3, 4);
        Assert.Equal(12, exact.Length);
        var larger = Tensor.FromMemory(new float[20], 3, 4); // a bigger buffer is fine
        Assert.Equal(20, larger.Storage.Length);
        Assert.Throws<ArgumentException>(() => Tensor.FromSpan(new float[5], 2, 3));
        Assert.Throws<ArgumentException>(() => Tensor.Zeros(2, -1));
        var wrapped = new float[6];
        Tensor.Wrap(wrapped, 2, 3)[1, 2] = 4f;
        Assert.Equal(4f, wrapped[5]); // Wrap does not copy
        Assert.Equal(new float[] { 2, 2, 2 }, Tensor.Full(2f, 3).ToArray());
    }

    [Fact]
    public void RandomTensorsAreSeeded()
    {
        Assert.Equal(Tensor.RandomNormal(5, 1f, 100).ToArray(), Tensor.RandomNormal(5, 1f, 100).ToArray());
        Assert.NotEqual(Tensor.RandomNormal(5, 1f, 100).ToArray(), Tensor.RandomNormal(6, 1f, 100).ToArray());
        var u = Tensor.RandomUniform(7, -2f, 3f, 10000).ToArray();
        Assert.All(u, v => Assert.InRange(v, -2f, 3f));
        Assert.DoesNotContain(3f, u);
    }
}
