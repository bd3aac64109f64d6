namespace HeadMiner.Models.Formats;

/// <summary>Keeps names taken from untrusted files short enough to print inside an error message.</summary>
internal static class ErrorText
{
    public static string Clip(string text, int max = 120) => text.Length <= max ? text : string.Concat(text.AsSpan(0, max), "…");
}
