namespace HeadMiner.Analysis.Detectors;

/// <summary>Knobs shared by the detectors. Defaults are sized for GPT-2 small on a laptop CPU (seconds per detector).</summary>
public sealed record DetectorOptions
{
    /// <summary>Seed of every random choice (prompt tokens, probe tokens): equal seeds give equal results.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Random-token prompts per pattern detector.</summary>
    public int Prompts { get; init; } = 16;

    /// <summary>Length T of the random segment; repeated-token prompts are BOS + 2T tokens.</summary>
    public int SegmentLength { get; init; } = 25;

    /// <summary>Most token rows (batch × length) per forward pass.</summary>
    public int MaxRowsPerForward { get; init; } = 1024;

    /// <summary>
    /// Start prompts with the BOS token. Null: whenever the model or tokenizer has a BOS id (TransformerLens prepends
    /// it for GPT-2 too, although GPT-2's tokenizer does not add it).
    /// </summary>
    public bool? PrependBos { get; init; }

    /// <summary>Pattern scores ignore attention on the BOS column (a resting place, not a target) when prompts start with BOS.</summary>
    public bool ExcludeBos { get; init; } = true;

    /// <summary>Offsets 0..W−1 form the local window of the positional detector.</summary>
    public int PositionalWindow { get; init; } = 3;

    /// <summary>Vocabulary tokens pushed through each head's OV circuit by the negative-copying detector.</summary>
    public int ProbeTokens { get; init; } = 64;

    /// <summary>Evidence examples (query → key pairs, probe tokens) kept per head.</summary>
    public int Examples { get; init; } = 3;

    /// <summary>
    /// The ids random-token prompts draw from (null: the whole ordinary vocabulary). A model whose training data kept
    /// token families apart — the embedded toy model only ever repeats words, while its numbers and days always count —
    /// declares its "text" tokens in <see cref="AnalysisHints"/>, so repeated-token prompts test induction rather
    /// than the successor prior of a number.
    /// </summary>
    public IReadOnlySet<int>? PromptTokens { get; init; }

    /// <summary>Most prompts a detector may grow to while some head's interval still straddles its threshold (see <see cref="DetectorRunner"/>); never fewer than <see cref="Prompts"/>.</summary>
    public int MaxPrompts { get; init; } = 64;

    /// <summary>Bootstrap resamples behind each head's interval.</summary>
    public int Resamples { get; init; } = 1000;

    /// <summary>
    /// The options every command uses for one loaded model — `detect`, `atlas` and the explorer call this, so equal
    /// seeds give equal prompts and scores everywhere: the repeated-token segment fitted to the context (prompts are
    /// BOS + 2 segments), and the prompt vocabulary the model directory declares in headminer.json
    /// (<see cref="AnalysisHints"/>). Returns the notes that say what was applied.
    /// </summary>
    public (DetectorOptions Options, IReadOnlyList<string> Notes) ForModel(Models.LoadedModel loaded)
    {
        var options = ForContext(loaded.Model.Config.ContextLength, loaded.Path);
        if (AnalysisHints.Load(loaded.Path, loaded.Model.Config.VocabSize) is not { } hints || hints.PromptTokenRanges.Count == 0) return (options, []);
        var ranges = string.Join(", ", hints.PromptTokenRanges.Select(r => $"{r.First}–{r.Last}"));
        return (options with { PromptTokens = hints.PromptTokens() },
            [$"random-token prompts draw from {hints.PromptTokens().Count} ids ({ranges}) declared in {AnalysisHints.FileName}: {hints.Note}"]);
    }

    /// <summary>These options with the segment shortened to fit a model of <paramref name="contextLength"/> tokens; too short for any repeat is an error.</summary>
    public DetectorOptions ForContext(int contextLength, string source)
    {
        int segment = Math.Min(SegmentLength, (contextLength - 1) / 2);
        if (segment < 2) throw new HeadMinerException($"{source}: a context of {contextLength} tokens is too short for repeated-token prompts");
        return this with { SegmentLength = segment };
    }

    public void Validate()
    {
        void Check(bool ok, string what)
        {
            if (!ok) throw new HeadMinerException($"detector options: {what}");
        }
        Check(Prompts > 0, $"prompt count {Prompts} must be positive");
        Check(SegmentLength >= 2, $"segment length {SegmentLength} must be at least 2");
        Check(MaxRowsPerForward > 0, $"rows per forward {MaxRowsPerForward} must be positive");
        Check(PositionalWindow >= 2, $"positional window {PositionalWindow} must be at least 2");
        Check(ProbeTokens > 0, $"probe token count {ProbeTokens} must be positive");
        Check(Examples >= 0, $"example count {Examples} must not be negative");
        Check(MaxPrompts > 0, $"the prompt budget {MaxPrompts} must be positive");
        Check(Resamples >= 100, $"bootstrap resamples {Resamples} must be at least 100");
        Check(PromptTokens is null || PromptTokens.Count >= 2, "prompt tokens must hold at least 2 ids");
    }
}
