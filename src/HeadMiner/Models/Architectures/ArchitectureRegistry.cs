namespace HeadMiner.Models.Architectures;

/// <summary>Every supported Hugging Face architecture, by config.json model_type.</summary>
public static class ArchitectureRegistry
{
    private static readonly IArchitecture[] All =
    [
        new Gpt2(),
        new GptNeo(),
        new GptNeoX(),
        new Llama(),
        new Mistral(),
        new Qwen2(),
        new Phi3(),
        new Qwen3(),
        new Olmo2(),
        new Gemma(),
        new Gemma2(),
        new Gemma3(),
    ];

    /// <summary>model_types that are recognised but deliberately not loaded, with what to do instead.</summary>
    private static readonly Dictionary<string, string> Refused = new()
    {
        ["gemma3"] = "is the multimodal Gemma 3 wrapper (Gemma3ForConditionalGeneration: a vision tower around a text model, " +
            "its settings under \"text_config\" and its weights under \"language_model.\"); HeadMiner loads the text model alone, " +
            "saved as Gemma3ForCausalLM (model_type \"gemma3_text\", as google/gemma-3-1b-* are)",
    };

    public static IEnumerable<string> SupportedModelTypes => All.SelectMany(a => a.ModelTypes).Append("llama2c (.bin)").Order();

    /// <summary>The architecture for <paramref name="modelType"/>, or null when unsupported (for listings that must not fail).</summary>
    public static IArchitecture? Find(string? modelType) => All.FirstOrDefault(a => modelType is not null && a.ModelTypes.Contains(modelType));

    public static IArchitecture For(string? modelType, string configPath)
    {
        if (modelType is null)
            throw new HeadMinerException($"{configPath}: config.json has no \"model_type\"; supported: {string.Join(", ", SupportedModelTypes)}");
        if (Refused.TryGetValue(modelType, out var why))
            throw new HeadMinerException($"{configPath}: model_type \"{modelType}\" {why}");
        return All.FirstOrDefault(a => a.ModelTypes.Contains(modelType))
            ?? throw new HeadMinerException($"{configPath}: model_type \"{modelType}\" is not supported; supported: {string.Join(", ", SupportedModelTypes)}");
    }
}
