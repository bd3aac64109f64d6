namespace HeadMiner.Bench;

/// <summary>Command-line options of the benchmarks (this project's and the torch reference's).</summary>
public static class BenchArgs
{
    /// <summary>The value after <paramref name="name"/> in <paramref name="args"/>, or null when the option is absent or last.</summary>
    public static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
