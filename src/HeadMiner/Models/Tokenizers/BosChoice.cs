namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// The one sentence that says whether prompts start with BOS and why. Every command that loads a model prints it, so
/// a result is never read without knowing whether position 0 is BOS (which moves every position and, for many models,
/// changes the attention-sink heads entirely).
/// </summary>
public static class BosChoice
{
    /// <summary>E.g. "prompts start with BOS &lt;s&gt; (id 1): add_bos_token is true in tokenizer_config.json".</summary>
    public static string Describe(ITokenizer tokenizer)
    {
        if (tokenizer.BosId is not int bos) return "prompts get no BOS: the tokenizer has no BOS token";
        string token = $"{(bos < tokenizer.VocabSize ? tokenizer.TokenToString(bos) : $"<{bos}>")} (id {bos})";
        return tokenizer.AddsBosByDefault
            ? $"prompts start with BOS {token}: {tokenizer.BosRule}"
            : $"prompts get no BOS (its token would be {token}): {tokenizer.BosRule}";
    }
}
