using System.Text;

namespace HeadMiner.Tasks;

/// <summary>
/// Reads a prompt file (prompt pairs, labelled prompts) as text: bounded in size, so a huge file is refused before
/// it is read, and strictly UTF-8, so damaged bytes are an error naming their offset instead of prompts that
/// silently contain U+FFFD. (A lone surrogate escape such as "\ud800" is refused by the JSON reader, naming its path.)
/// </summary>
internal static class PromptFileText
{
    public const long MaxBytes = 256L << 20;

    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string Read(string path, string what)
    {
        if (!File.Exists(path)) throw new HeadMinerException($"{path}: {what} not found");
        long length = new FileInfo(path).Length;
        if (length > MaxBytes) throw new HeadMinerException($"{path}: {what} is {length >> 20} MB; the limit is {MaxBytes >> 20} MB");
        byte[] bytes = File.ReadAllBytes(path);
        int start = bytes.AsSpan().StartsWith(Encoding.UTF8.Preamble) ? Encoding.UTF8.Preamble.Length : 0;
        try
        {
            return Strict.GetString(bytes, start, bytes.Length - start);
        }
        catch (DecoderFallbackException e)
        {
            throw new HeadMinerException($"{path}: {what} is not UTF-8 text (invalid byte at offset {start + e.Index})", e);
        }
    }
}
