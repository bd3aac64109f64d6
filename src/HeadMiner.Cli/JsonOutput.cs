using System.Text.Encodings.Web;
using System.Text.Json;
using HeadMiner.Tensors.Json;

namespace HeadMiner.Cli;

/// <summary>
/// One JSON style for every command: indented, UTF-8 text as is (token strings stay readable), NaN/±∞ as null with a
/// "non_finite" note (<see cref="FiniteJson"/>).
/// </summary>
public static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new NonFiniteAsNullConverter() },
    };

    /// <summary>Prints <paramref name="value"/> as JSON on <paramref name="stdout"/>; where non-finite values became null, says so on <paramref name="stderr"/>.</summary>
    public static void Print(TextWriter stdout, TextWriter stderr, object value)
    {
        var text = FiniteJson.Serialize(value, Options);
        stdout.WriteLine(text.Json);
        if (text.NonFinite.Count > 0) stderr.WriteLine(text.Describe("the JSON output"));
    }
}
