using System.Text.Json.Serialization;

namespace HeadMiner.Tasks;

/// <summary>
/// One record of a causal-intervention data set: a clean prompt, a corrupted prompt of the same token length that
/// changes the behaviour under study, the answer the clean prompt should produce and the wrong answer the
/// corrupted one points to (both single tokens, e.g. " Mary" / " John" for IOI).
/// </summary>
public sealed record PromptPair(
    [property: JsonPropertyName("clean")] string Clean,
    [property: JsonPropertyName("corrupted")] string Corrupted,
    [property: JsonPropertyName("answer")] string Answer,
    [property: JsonPropertyName("wrong")] string Wrong);
