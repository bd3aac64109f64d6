using HeadMiner.Tensors;
using HeadMiner.Training;

namespace HeadMiner.Tests.Training;

public class NonFiniteValuesTests
{
    [Theory]
    [InlineData(1037, 0, float.NaN)]
    [InlineData(1037, 1036, float.NaN)] // the last element, past the last full vector
    [InlineData(1037, 515, float.NegativeInfinity)]
    [InlineData(3, 2, float.PositiveInfinity)] // shorter than a vector
    public void TheFirstNonFiniteElementIsFoundWherever(int length, int index, float bad)
    {
        var values = Enumerable.Range(0, length).Select(i => (i % 2 == 0 ? 1 : -1) * float.MaxValue / (i + 1)).ToArray();
        values[index] = bad;
        if (index + 1 < length) values[^1] = float.NaN; // a later bad element must not be the one reported
        Assert.Equal(index, NonFiniteValues.FirstIndex(values));
    }

    [Fact]
    public void FiniteExtremesAndEmptySpansAreFinite()
    {
        Assert.Equal(-1, NonFiniteValues.FirstIndex([float.MaxValue, -float.MaxValue, float.Epsilon, 0f, -0f]));
        Assert.Equal(-1, NonFiniteValues.FirstIndex([]));
    }

    [Fact]
    public void TheDescriptionGivesTheMultiIndexAndTheValue()
    {
        var t = Tensor.Zeros(2, 3, 4);
        t.Span[1 * 12 + 2 * 4 + 3] = float.NegativeInfinity;
        Assert.Equal("[1, 2, 3] is -Infinity", NonFiniteValues.Describe(t));
        Assert.Null(NonFiniteValues.Describe(Tensor.Zeros(5)));
    }
}
