using System.Security.Cryptography;
using System.Text;

namespace HeadMiner.Cluster;

/// <summary>
/// The exact identity of a model's files, so that every worker of a run computes with the same weights, tokenizer and
/// prompt vocabulary: SHA-256 over each regular file directly in the model's directory (links followed; sorted by
/// name, ordinal), as its name, a NUL, its length in decimal, a NUL and its bytes; for a single-file model (a
/// llama2.c .bin) that file and the files beside it. Written as "files-sha256:" + 64 hex digits.
/// <para>Exact, unlike the literature's sign fingerprint (which deliberately matches F16 and F32 copies): a cluster
/// result must be the single-machine result bit for bit, and a different rounding of the same weights would not be.</para>
/// </summary>
public static class ModelFingerprint
{
    public const string Prefix = "files-sha256:";

    public static string Of(string path)
    {
        string dir = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        string[] files;
        try
        {
            files = [.. Directory.GetFiles(dir).Order(StringComparer.Ordinal)];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{dir}: cannot list the model's files for its fingerprint: {e.Message}", e);
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        foreach (string file in files)
        {
            try
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                hash.AppendData(Encoding.UTF8.GetBytes($"{Path.GetFileName(file)}\0{stream.Length}\0"));
                int read;
                while ((read = stream.Read(buffer)) > 0) hash.AppendData(buffer, 0, read);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new HeadMinerException($"{file}: cannot read it for the model's fingerprint: {e.Message}", e);
            }
        }
        return Prefix + Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
