using System.Text.Json;
using HeadMiner.Cli;
using HeadMiner.Tensors.Json;

namespace HeadMiner.Tests.Tensors;

public class FiniteJsonTests
{
    private static readonly JsonSerializerOptions Options = new() { Converters = { new NonFiniteAsNullConverter() } };

    private sealed record Sample(string Name, float F, double D, float? Fn, double? Dn, float[] Fs, double?[][] Grid);

    [Fact]
    public void NonFiniteFloatsAndDoublesOfEveryShapeAreNullAndListedByPath()
    {
        var value = new Sample("NaN", float.NaN, double.PositiveInfinity, float.NegativeInfinity, double.NaN, [1f, float.NaN], [[0.5, double.NegativeInfinity], [null, 2]]);
        var text = FiniteJson.Serialize(value, Options);
        using var doc = JsonDocument.Parse(text.Json);
        var root = doc.RootElement;
        // A real string "NaN" stays a string: only numbers become null.
        Assert.Equal("NaN", root.GetProperty("Name").GetString());
        foreach (string field in new[] { "F", "D", "Fn", "Dn" }) Assert.Equal(JsonValueKind.Null, root.GetProperty(field).ValueKind);
        Assert.Equal(1, root.GetProperty("Fs")[0].GetSingle());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("Fs")[1].ValueKind);
        Assert.Equal(0.5, root.GetProperty("Grid")[0][0].GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("Grid")[0][1].ValueKind);

        var expected = new[] { ("$.F", "NaN"), ("$.D", "Infinity"), ("$.Fn", "-Infinity"), ("$.Dn", "NaN"), ("$.Fs[1]", "NaN"), ("$.Grid[0][1]", "-Infinity") };
        Assert.Equal(expected, text.NonFinite.Select(v => (v.Path, v.Value)));
        var note = root.GetProperty(FiniteJson.NoteProperty);
        Assert.Equal("null", note.GetProperty("written_as").GetString());
        Assert.Equal(6, note.GetProperty("count").GetInt32());
        Assert.Equal(expected.Select(e => e.Item1), note.GetProperty("values").EnumerateArray().Select(v => v.GetProperty("path").GetString()));
        Assert.Contains("6 non-finite value(s) written as null ($.F = NaN, $.D = Infinity, $.Fn = -Infinity, … (3 more))", text.Describe("out.json"));
    }

    [Fact]
    public void FiniteDocumentsAreWrittenExactlyAsTheOptionsWriteThemWithNoNote()
    {
        var value = new Sample("x", 0.3f, 0.1, null, 2.5, [1.5f], [[1.0]]);
        var text = FiniteJson.Serialize(value, Options);
        Assert.Empty(text.NonFinite);
        Assert.Equal(JsonSerializer.Serialize(value, Options), text.Json);
        Assert.DoesNotContain(FiniteJson.NoteProperty, text.Json);
        Assert.Equal("", text.Describe("x"));
    }

    [Fact]
    public void NullReadsBackAsNaNSoAWrittenFileLoadsAgain()
    {
        var back = JsonSerializer.Deserialize<Sample>(FiniteJson.Serialize(new Sample("a", float.NaN, double.NaN, 1f, null, [float.NaN], []), Options).Json, Options)!;
        Assert.True(float.IsNaN(back.F));
        Assert.True(double.IsNaN(back.D));
        Assert.Equal(1f, back.Fn);
        Assert.Null(back.Dn);
        Assert.True(float.IsNaN(back.Fs[0]));
    }

    [Fact]
    public void FloatsPrintInTheirShortestFormInJsonAndCsv()
    {
        Assert.Equal("{\"F\":0.3}", JsonSerializer.Serialize(new { F = 0.3f }, Options));
        // A float threshold carried in a double field prints as the float did, not as 0.30000001192092896.
        Assert.Equal(0.3, ShortestDouble.Of(0.3f));
        Assert.Equal("0.3", JsonSerializer.Serialize(ShortestDouble.Of(0.3f), Options));
        Assert.True(double.IsNaN(ShortestDouble.Of(float.NaN)));
        Assert.Equal("0.3", OutputFiles.Cell(0.3f));
        Assert.Equal("", OutputFiles.Cell(float.NaN));
        Assert.Equal("", OutputFiles.Cell(double.NegativeInfinity));
    }

    [Fact]
    public void ANonFiniteRootIsNullWithItsPath()
    {
        var text = FiniteJson.Serialize(double.NaN, Options);
        Assert.Equal("null", text.Json);
        Assert.Equal([new NonFiniteValue("$", "NaN")], text.NonFinite);
    }
}
