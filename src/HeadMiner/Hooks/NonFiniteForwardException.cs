namespace HeadMiner.Hooks;

/// <summary>
/// A model whose forward pass produces NaN or ±∞ (almost always broken weights). <see cref="Site"/> is the first
/// hook point, in execution order, where a non-finite value appears — null when every activation is finite and the
/// unembedding itself gives them. Front ends treat it as bad data (CLI exit 1; explorer 422).
/// </summary>
public sealed class NonFiniteForwardException(string message, HookName? site) : HeadMinerException(message)
{
    public HookName? Site { get; } = site;
}
