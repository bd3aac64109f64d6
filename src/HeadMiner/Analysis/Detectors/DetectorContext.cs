using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Analysis.Detectors;

/// <summary>What a detector runs on: the model (possibly a weights-only partial checkpoint), its tokenizer if any, and the options.</summary>
public sealed record DetectorContext(Transformer Model, ITokenizer? Tokenizer, DetectorOptions Options)
{
    public DetectorContext(Transformer model, ITokenizer? tokenizer = null) : this(model, tokenizer, new DetectorOptions()) { }

    public ModelConfig Config => Model.Config;

    /// <summary>
    /// Hooks every <see cref="PatternScan"/> forward runs with, before the pattern is cached (null in normal use). The
    /// calibration's shuffled-pattern null (<c>Analysis/Calibration/ShuffledPatterns</c>) permutes hook_pattern rows here.
    /// </summary>
    public HookSet? PatternHooks { get; init; }

    /// <summary>Patterns already computed for this model by earlier scans of the same run (the atlas sets one); null: none kept.</summary>
    public PatternMemo? Patterns { get; init; }

    /// <summary>Null when a forward pass is possible; else why not (shared by every pattern detector).</summary>
    public string? CannotRunForward() => Model.Weights.IsRunnable
        ? null
        : "needs a forward pass, but the checkpoint lacks W_E, W_U or MLP weights (loaded weights-only)";

    /// <summary>Null when W_E and W_U are present; else why they are needed.</summary>
    public string? CannotReadEmbeddings() => Model.Weights.HasEmbedding && Model.Weights.HasUnembedding
        ? null
        : "needs the token embedding W_E and unembedding W_U, which this checkpoint lacks (loaded weights-only)";
}
