using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tensors;

/// <summary>Tensors stored in 16 bits: views stay 16-bit, and only Storage/Span widen the whole buffer.</summary>
public class SixteenBitTensorTests
{
    private static (Tensor Half, Tensor Widened) Make(HalfFormat format, params int[] shape)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        var values = new float[n];
        new SeededRandom(3).FillNormal(values, 2f);
        var bits = new ushort[n];
        if (format == HalfFormat.BFloat16) HalfPrecision.FloatToBf16(values, bits);
        else HalfPrecision.FloatToF16(values, bits);
        var widened = new float[n];
        for (int i = 0; i < n; i++) widened[i] = format == HalfFormat.BFloat16 ? HalfPrecision.Bf16ToFloat(bits[i]) : HalfPrecision.F16ToFloat(bits[i]);
        return (Tensor.FromHalf(new HalfStorage(bits, format), shape), Tensor.Wrap(widened, shape));
    }

    [Theory]
    [InlineData(HalfFormat.BFloat16)]
    [InlineData(HalfFormat.Float16)]
    public void ViewsCopiesAndElementsReadTheWidenedValuesWithoutWideningTheBuffer(HalfFormat format)
    {
        var (half, widened) = Make(format, 5, 7, 3);
        Func<Tensor, Tensor>[] views =
        [
            t => t,
            t => t.Slice(1, 2, 4),
            t => t.Select(0, 3),
            t => t.Transpose(0, 2),
            t => t.Permute(2, 0, 1).Slice(0, 1, 2),
            t => t.View(4, [3, 4], [9, 2]),
            t => t.Reshape(35, 3).Slice(0, 10, 20),
        ];
        foreach (var view in views)
        {
            Tensor h = view(half), w = view(widened);
            Assert.Same(half.Half, h.Half);
            Assert.Equal(w.ToArray(), h.ToArray());
            Assert.Equal(w.ToArray(), h.Clone().ToArray());
            Assert.Null(h.Clone().Half);
            Assert.Equal(w.Contiguous().ToArray(), h.Contiguous().ToArray());
        }
        Assert.Equal(widened[4, 2, 1], half[4, 2, 1]);
        Assert.Equal(0, half.Half!.Widenings);

        // Span needs float32 memory: the whole buffer is widened once and reused while it lives.
        Assert.Equal(widened.Span.ToArray(), half.Span.ToArray());
        Assert.Equal(widened.Span.ToArray(), half.Span.ToArray());
        Assert.Equal(1, half.Half.Widenings);
    }

    [Fact]
    public void SixteenBitTensorsAreReadOnly()
    {
        var (half, _) = Make(HalfFormat.BFloat16, 2, 3);
        Assert.Throws<InvalidOperationException>(() => half[1, 1] = 2f);
        Assert.Throws<InvalidOperationException>(() => Tensor.Zeros(2, 3).CopyTo(half));
    }

    [Fact]
    public void AViewReachingPastTheBufferIsRejected()
    {
        var (half, _) = Make(HalfFormat.Float16, 4, 4);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => half.View(10, [2, 4], [4, 1]));
        Assert.Contains("16-bit values", error.Message);
    }
}
