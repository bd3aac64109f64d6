using System.Text.Json.Serialization;

namespace HeadMiner.Tasks;

/// <summary>
/// One record of a causal-intervention data set: a clean prompt, a corrupted prompt of the same token length that
/// changes the behaviour under study, the answer the clean prompt should produce and the wrong answer the
/// corrupted one points to (both single tokens, e.g. " Mary" / " John" for IOI).
/// </summary>
/// <param name="Positions">
/// Optional named token positions in the clean prompt (indices into its token ids as the tokenizer encodes it, BOS
/// included when the tokenizer adds one), e.g. IOI's "IO", "S1", "S1+1", "S2", "END". Generated sets fill it so a
/// detector need not search for its tokens again; files without it stay valid.
/// </param>
/// <param name="AnswerSet">Optional: every continuation that counts as right when one token is not enough (Greater-Than: the years after the start year).</param>
/// <param name="WrongSet">Optional: every continuation that counts as wrong (Greater-Than: the start year and those before it).</param>
public sealed record PromptPair(
    [property: JsonPropertyName("clean")] string Clean,
    [property: JsonPropertyName("corrupted")] string Corrupted,
    [property: JsonPropertyName("answer")] string Answer,
    [property: JsonPropertyName("wrong")] string Wrong,
    [property: JsonPropertyName("positions"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyDictionary<string, int>? Positions = null,
    [property: JsonPropertyName("answer_set"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? AnswerSet = null,
    [property: JsonPropertyName("wrong_set"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? WrongSet = null);
