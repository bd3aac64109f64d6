using System.Globalization;
using System.Text;

namespace HeadMiner.Cli;

/// <summary>
/// Text from prompts, tokens and error messages as a terminal should show it: control characters written as escapes
/// (\n, \r, \t, \x1b …) instead of raw, so a token cannot move the cursor, recolour or clear the screen, or split a
/// one-line message. Only human-readable output goes through here; JSON escapes control characters itself.
/// </summary>
public static class TerminalText
{
    /// <summary>Every control character escaped (token lists, table cells, one-line messages).</summary>
    public static string Escape(string text) => Escape(text, keepLines: false);

    /// <summary>As <see cref="Escape(string)"/>, but line feeds and tabs stay: generated text keeps its layout.</summary>
    public static string EscapeKeepingLines(string text) => Escape(text, keepLines: true);

    private static string Escape(string text, bool keepLines)
    {
        int first = 0;
        while (first < text.Length && !NeedsEscape(text[first], keepLines)) first++;
        if (first == text.Length) return text;
        var sb = new StringBuilder(text.Length + 8).Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (!NeedsEscape(c, keepLines)) sb.Append(c);
            else sb.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                < '\u0100' => "\\x" + ((int)c).ToString("x2", CultureInfo.InvariantCulture),
                _ => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
            });
        }
        return sb.ToString();
    }

    // C0 controls, DEL and C1 controls (U+0080–U+009F: some terminals read U+009B as an escape sequence start).
    private static bool NeedsEscape(char c, bool keepLines) =>
        char.IsControl(c) && !(keepLines && c is '\n' or '\t');
}
