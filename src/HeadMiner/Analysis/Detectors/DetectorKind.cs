namespace HeadMiner.Analysis.Detectors;

/// <summary>What a detector reads, which decides what a model must hold for it to run.</summary>
public enum DetectorKind
{
    /// <summary>Runs prompts through the model and scores the cached attention patterns (needs a runnable model).</summary>
    AttentionPattern,

    /// <summary>Reads the weights only, no forward pass (some need W_E/W_U, which weights-only checkpoints may lack).</summary>
    Weights,

    /// <summary>Needs a task set and interventions (patching, ablation) with a metric.</summary>
    Task,
}
