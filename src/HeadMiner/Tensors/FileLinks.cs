namespace HeadMiner.Tensors;

/// <summary>
/// Follows symbolic links to the file they finally name. On Unix a <see cref="FileInfo"/> of a link reports the link's
/// own size, not its target's, and the Hugging Face cache stores every model file as a relative link into
/// <c>blobs/</c> — so every place that sizes a model, tokenizer or config file asks here first.
/// </summary>
public static class FileLinks
{
    /// <summary>
    /// Whether a file or a symbolic link (even a dangling one) is at <paramref name="path"/>. <see cref="File.Exists"/>
    /// says false for a dangling link, which would make a loader skip the file silently or look elsewhere and report
    /// the wrong problem; with this the loader goes on to open it and <see cref="Resolve"/> names the broken link.
    /// </summary>
    public static bool Exists(string path) => File.Exists(path) || new FileInfo(path).LinkTarget is not null;

    /// <summary>
    /// The file <paramref name="path"/> finally points at (the path itself when it is no link). A missing file, a
    /// dangling link or a link loop fails with one <see cref="HeadMinerException"/> naming the path and calling it
    /// <paramref name="what"/> ("config.json", "safetensors file").
    /// </summary>
    public static FileInfo Resolve(string path, string what)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is null)
        {
            if (!info.Exists) throw new HeadMinerException($"{path}: {what} not found");
            return info;
        }
        FileSystemInfo? target;
        try
        {
            target = info.ResolveLinkTarget(returnFinalTarget: true);
        }
        catch (IOException e)
        {
            // A loop of links, or one too deep to follow.
            throw new HeadMinerException($"{path}: {what} is a symbolic link to {info.LinkTarget} that cannot be followed: {e.Message}", e);
        }
        if (target is null || !File.Exists(target.FullName))
            throw new HeadMinerException($"{path}: {what} is a symbolic link to {info.LinkTarget}, which is not an existing file (a dangling link?)");
        return new FileInfo(target.FullName);
    }
}
