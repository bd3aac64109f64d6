namespace HeadMiner.Analysis.Detectors;

/// <summary>One attention entry shown as evidence: on prompt <paramref name="Prompt"/>, query position → key position with this weight.</summary>
public sealed record AttentionExample(int Prompt, int Query, string QueryToken, int Key, string KeyToken, float Weight)
{
    public override string ToString() => $"{Query} {Quote(QueryToken)} → {Key} {Quote(KeyToken)}: {Weight:0.000}";

    private static string Quote(string token) => "\"" + token.Replace("\n", "\\n") + "\"";
}
