using HeadMiner.Models;
using HeadMiner.Tasks.Synthetic;

namespace HeadMiner.Training;

/// <summary>A measured training run: model shape, data and hyperparameters (used by `headminer train` and the tests).</summary>
public sealed record TrainingPreset(string Name, string Description, ModelConfig Config, Func<SequenceGenerator> Data, TrainingOptions Options)
{
    /// <summary>The data's tokenizer as a Hugging Face tokenizer.json, written next to the model (null: none).</summary>
    public Func<string>? TokenizerJson { get; init; }

    /// <summary>Analysis hints written next to the model as headminer.json (null: none).</summary>
    public HeadMiner.Analysis.Detectors.AnalysisHints? AnalysisHints { get; init; }

    /// <summary>
    /// 2 layers × 4 heads, d_model 32, on 12-token random segments repeated: the loss on repeated tokens falls from
    /// chance to near 0 around steps 250–500. A fixed period allows a positional shortcut (a layer-0 head attending
    /// 11 back), so this shows in-context prediction, not induction heads (docs/TRAINING.md).
    /// </summary>
    public static TrainingPreset Repeats { get; } = new(
        "repeats",
        "2 layers × 4 heads, d_model 32, on 12-token random segments repeated: learns the repeats in context around steps 250–500 (a fixed period allows a positional shortcut)",
        new ModelConfig
        {
            Architecture = "gpt2",
            VocabSize = 44,
            DModel = 32,
            Layers = 2,
            Heads = 4,
            KvHeads = 4,
            DHead = 8,
            DMlp = 64,
            ContextLength = 32,
            Norm = NormKind.LayerNorm,
            NormEps = 1e-5f,
            Activation = MlpActivation.GeluTanh,
            LearnedPositions = true,
            AttentionScale = 1f / MathF.Sqrt(8),
            AttentionWindow = new int[2],
            TiedEmbeddings = true,
            BosTokenId = 0,
        },
        () => new RepeatedSegments(12, 1, 40, bosId: 0),
        new TrainingOptions { Steps = 1500, BatchSequences = 16, SequenceLength = 24, PeakLearningRate = 3e-3, WarmupSteps = 20, EvalEvery = 100, EvalSequences = 16, Seed = 7 });

    /// <summary>The toy language inside the toy English (half of its spans repeated segments: docs/EMBEDDED-MODEL.md).</summary>
    public static ToyLanguageOptions EmbeddedLanguage => EnglishOptions.Language;

    private static ToyVocabulary EmbeddedVocabulary => new(EmbeddedLanguage.WordCount, EmbeddedLanguage.MarkovStateCount, EmbeddedLanguage.NumberCount);

    /// <summary>The toy English (docs/EMBEDDED-MODEL.md): the toy language mixed with every task set's prompts.</summary>
    public static ToyEnglishOptions EnglishOptions { get; } = new();

    private static readonly Lazy<ToyEnglish> English = new(() => new ToyEnglish(EnglishOptions));

    /// <summary>
    /// The embedded default model (models/embedded): GPT-2, 4 layers × 4 heads, d_model 128, context 128, on the toy
    /// English (the toy language plus IOI, Greater-Than, needle, successor, MCQA and yes/no prompts with their
    /// answers). See docs/EMBEDDED-MODEL.md for what it learns and when.
    /// </summary>
    public static TrainingPreset Embedded { get; } = new(
        "embedded",
        "GPT-2, 4 layers × 4 heads, d_model 128, context 128, on the toy English (toy language + every task set's prompts and answers)",
        new ModelConfig
        {
            Architecture = "gpt2",
            VocabSize = ToyEnglish.Words(EnglishOptions.Language).Count,
            DModel = 128,
            Layers = 4,
            Heads = 4,
            KvHeads = 4,
            DHead = 32,
            DMlp = 512,
            ContextLength = 128,
            Norm = NormKind.LayerNorm,
            NormEps = 1e-5f,
            Activation = MlpActivation.GeluTanh,
            LearnedPositions = true,
            AttentionScale = 1f / MathF.Sqrt(32),
            AttentionWindow = new int[4],
            TiedEmbeddings = true,
            BosTokenId = ToyVocabulary.Bos,
            EosTokenId = ToyVocabulary.Eos,
        },
        () => English.Value,
        new TrainingOptions { Steps = 8000, BatchSequences = 16, SequenceLength = 128, PeakLearningRate = 2e-3, WarmupSteps = 100, EvalEvery = 100, EvalSequences = 32, Seed = 7, CheckpointEvery = 500 })
    {
        TokenizerJson = () => English.Value.TokenizerJson(),
        AnalysisHints = new(
            [(EmbeddedVocabulary.FirstWord, EmbeddedVocabulary.FirstWord + EmbeddedVocabulary.WordCount - 1)],
            "random-token prompts use the words w0…w191: the toy language repeats only words; numbers, days, months and letters always count, so a model trained on it predicts their successors, not a repeat"),
    };

    public static IReadOnlyList<TrainingPreset> All { get; } = [Repeats, Embedded];
}
