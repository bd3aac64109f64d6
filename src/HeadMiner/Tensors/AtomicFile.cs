using System.Text;

namespace HeadMiner.Tensors;

/// <summary>
/// Writes files so that readers see either the old content or the complete new content, never a torn file: the data
/// goes to a temporary file in the target's directory (same file system, so the rename is atomic), is flushed to
/// disk, then renamed over the target. If anything fails the temporary file is deleted and the target is untouched.
/// The data reaches the file in whole 2 MiB chunks (<see cref="AlignedChunkStream"/>), so a checkpoint written here
/// is cached, and later mapped, in 2 MiB pages where the file system allows it. The stream given to the callback
/// only appends: its Position is the count of bytes written, and it cannot seek.
/// <para>The directory entry itself is not fsynced (.NET has no portable way to), so after a power loss the rename
/// may be lost, but the target is still never half-written.</para>
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string contents) =>
        Write(path, stream =>
        {
            var bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(contents);
            stream.Write(bytes);
        });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> contents)
    {
        var copy = contents.ToArray(); // a span cannot be captured by the callback
        Write(path, stream => stream.Write(copy));
    }

    /// <summary>
    /// Lets <paramref name="write"/> fill a fresh stream, then atomically replaces <paramref name="path"/> with it.
    /// Exceptions from <paramref name="write"/> propagate unchanged (after cleanup); I/O failures of the temp file or
    /// the rename become a <see cref="HeadMinerException"/> naming the path.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new HeadMinerException($"{path}: cannot write to a root directory");
        if (!Directory.Exists(directory)) throw new HeadMinerException($"{path}: directory {directory} does not exist");
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            // Unbuffered: the chunk stream already hands the file whole, aligned 2 MiB writes.
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                var chunks = new AlignedChunkStream(file);
                write(chunks);
                chunks.Complete();
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e)
        {
            TryDelete(temp);
            if (e is IOException or UnauthorizedAccessException)
                throw new HeadMinerException($"{path}: could not write file: {e.Message}", e);
            throw;
        }
    }

    private static void TryDelete(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the original failure is the one worth reporting.
        }
    }
}
