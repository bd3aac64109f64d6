namespace HeadMiner.Analysis.Literature;

/// <summary>One attention head, written layer.head as the papers do ("9.6" is layer 9, head 6; both from 0).</summary>
public sealed record LiteratureHead(int Layer, int Head)
{
    public override string ToString() => $"{Layer}.{Head}";
}
