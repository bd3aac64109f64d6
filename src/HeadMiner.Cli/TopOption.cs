using System.CommandLine;

namespace HeadMiner.Cli;

/// <summary>
/// `--top N`, the same in every command: how many rows a summary shows, a whole number ≥ 1 (0 would print an empty
/// table, which no one asks for on purpose). Checked by the parser, so a bad value is a usage error (exit 2) with one
/// message everywhere.
/// </summary>
public static class TopOption
{
    public static Option<int> Create(string description, int defaultValue, bool shortAlias = false)
    {
        var option = shortAlias ? new Option<int>("--top", "-k") : new Option<int>("--top");
        option.Description = description;
        option.DefaultValueFactory = _ => defaultValue;
        option.Validators.Add(result =>
        {
            int value = result.GetValueOrDefault<int>();
            if (value < 1) result.AddError(Message(value));
        });
        return option;
    }

    public static string Message(int value) => $"--top {value} must be at least 1 (how many rows to show)";
}
