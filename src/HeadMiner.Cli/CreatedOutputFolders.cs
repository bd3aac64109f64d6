namespace HeadMiner.Cli;

/// <summary>
/// The folders a command created for its outputs when it checked them, before any work
/// (<see cref="OutputFiles.PrepareDirectory"/>). A command that then fails or is stopped before writing into them
/// leaves nothing behind: <see cref="CliApp"/> removes those still empty, deepest first. A folder that existed
/// before, or that holds anything, is never touched.
/// <para>Per command line (an <see cref="AsyncLocal{T}"/>), because tests run several command lines at once.</para>
/// </summary>
public sealed class CreatedOutputFolders
{
    private static readonly AsyncLocal<CreatedOutputFolders?> Current = new();
    private readonly List<string> _folders = [];

    /// <summary>Starts recording for the command line running on this flow.</summary>
    public static CreatedOutputFolders Track() => Current.Value = new CreatedOutputFolders();

    /// <summary>
    /// Creates <paramref name="path"/> and its missing parents, recording each one that did not exist.
    /// </summary>
    internal static void Create(string path)
    {
        var missing = new List<string>();
        for (string? p = Path.GetFullPath(path); !string.IsNullOrEmpty(p) && !Directory.Exists(p); p = Path.GetDirectoryName(p)) missing.Add(p);
        Directory.CreateDirectory(path);
        Current.Value?._folders.AddRange(missing); // deepest first
    }

    /// <summary>Removes the recorded folders that are still empty (best effort: a failure here must not hide the command's).</summary>
    public void RemoveEmpty()
    {
        foreach (string folder in _folders)
        {
            try
            {
                if (Directory.Exists(folder) && !Directory.EnumerateFileSystemEntries(folder).Any()) Directory.Delete(folder);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Someone else is using it now; leaving an empty folder is the lesser harm.
            }
        }
        _folders.Clear();
    }
}
