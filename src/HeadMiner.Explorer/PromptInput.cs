namespace HeadMiner.Explorer;

/// <summary>
/// Turns a request's prompt into token ids, within limits: "tokens" (ids) when given, otherwise "prompt" — text for a
/// model with a tokenizer, space-separated ids for one without. Too long for the context → 413 saying so.
/// </summary>
public static class PromptInput
{
    public static int[] Tokens(ExplorerModel model, ApiRequest request, ExplorerLimits limits, string textField = "prompt", string idsField = "tokens")
    {
        var config = model.Config;
        int[] ids;
        if (request.OptionalIntArray(idsField, config.ContextLength + 1) is { } given)
        {
            ids = given;
            for (int i = 0; i < ids.Length; i++)
                if ((uint)ids[i] >= (uint)config.VocabSize)
                    throw ApiException.BadRequest($"\"{idsField}\"[{i}] = {ids[i]} is outside the vocabulary (0..{config.VocabSize - 1})");
        }
        else
        {
            string text = request.String(textField);
            if (text.Length > limits.MaxPromptChars)
                throw new ApiException(413, $"\"{textField}\" is {text.Length} characters; the limit is {limits.MaxPromptChars}");
            ids = model.Loaded.Tokenizer is { } tokenizer ? tokenizer.Encode(text) : ParseIds(text, config.VocabSize, textField);
        }
        if (ids.Length == 0) throw ApiException.BadRequest($"\"{textField}\" has no tokens");
        if (ids.Length > config.ContextLength)
            throw new ApiException(413, $"the prompt has {ids.Length} tokens but model {model.Id} supports at most {config.ContextLength} (its context length); shorten it");
        return ids;
    }

    /// <summary>What a token looks like on the page: the tokenizer's view, or the id for a model without a tokenizer.</summary>
    public static string TokenText(ExplorerModel model, int id) =>
        model.Loaded.Tokenizer is { } t && id < t.VocabSize ? t.TokenToString(id) : id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static int[] ParseIds(string text, int vocab, string field)
    {
        var parts = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ids[i]) || ids[i] >= vocab)
                throw ApiException.BadRequest($"this model has no tokenizer: \"{field}\" must be token ids 0..{vocab - 1} separated by spaces; item {i + 1} is \"{parts[i]}\"");
        return ids;
    }
}
