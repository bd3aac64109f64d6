namespace HeadMiner.Tasks.Sets;

/// <summary>Every task-set generator by name. A new set is one file in Tasks/Sets plus one line here.</summary>
public static class TaskSets
{
    public static IReadOnlyList<TaskSetGenerator> All { get; } =
    [
        new IoiSet(),
        new GreaterThanSet(),
        new NeedleInHaystackSet(),
        new SuccessorSet(),
        new McqaSet(),
        new YesNoSet(),
        new AcronymSet(),
        new RepeatedTokensSet(),
    ];

    /// <summary>The generator called <paramref name="name"/> (case-insensitive, '-' and '_' alike), or null.</summary>
    public static TaskSetGenerator? Find(string name) =>
        All.FirstOrDefault(g => string.Equals(g.Name, name.Trim().Replace('-', '_'), StringComparison.OrdinalIgnoreCase));
}
