using System.Text.Encodings.Web;
using System.Text.Json;

namespace HeadMiner.Cli;

/// <summary>One JSON style for every command: indented, UTF-8 text as is (token strings stay readable).</summary>
public static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
