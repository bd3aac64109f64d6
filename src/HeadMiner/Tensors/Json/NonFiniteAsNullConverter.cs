using System.Text.Json;
using System.Text.Json.Serialization;

namespace HeadMiner.Tensors.Json;

/// <summary>
/// Writes float and double values — and, through System.Text.Json's element and nullable converters, float?,
/// double? and arrays of them — as JSON numbers, and NaN/±∞ as <c>null</c>: JSON has no non-finite numbers, and
/// without this a single NaN anywhere in a result made the serializer throw after the work was done. Floats are
/// written from the float itself (shortest round-trip form, 0.3 rather than 0.30000001192092896). Reading turns
/// <c>null</c> back into NaN, so a file written with nulls loads again. Registered in every JSON options object
/// that can carry a number; <see cref="FiniteJson"/> also says where the nulls came from.
/// </summary>
public sealed class NonFiniteAsNullConverter : JsonConverterFactory
{
    /// <summary>
    /// What <see cref="FiniteJson"/>'s first pass writes instead of <c>null</c>, so that it can find the paths of the
    /// values afterwards: a string starting with a Unicode noncharacter, which no text that a model or a user writes
    /// contains. Never left in any output.
    /// </summary>
    internal const char MarkerPrefix = '\uFDD0';

    private readonly bool _mark;

    public NonFiniteAsNullConverter() : this(mark: false) { }

    internal NonFiniteAsNullConverter(bool mark) => _mark = mark;

    internal bool Marks => _mark;

    public override bool CanConvert(Type typeToConvert) => typeToConvert == typeof(float) || typeToConvert == typeof(double);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        typeToConvert == typeof(float) ? new SingleConverter(_mark) : new DoubleConverter(_mark);

    internal static string Marker(double value) => MarkerPrefix + (double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");

    private sealed class SingleConverter(bool mark) : JsonConverter<float>
    {
        public override float Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? float.NaN : reader.GetSingle();

        public override void Write(Utf8JsonWriter writer, float value, JsonSerializerOptions options)
        {
            if (float.IsFinite(value)) writer.WriteNumberValue(value);
            else if (mark) writer.WriteStringValue(Marker(value));
            else writer.WriteNullValue();
        }
    }

    private sealed class DoubleConverter(bool mark) : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value)) writer.WriteNumberValue(value);
            else if (mark) writer.WriteStringValue(Marker(value));
            else writer.WriteNullValue();
        }
    }
}
