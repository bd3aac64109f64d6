namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// What predicting the token at a position tests. Label i describes token i as the target of the prediction made
/// at position i − 1, so a training loop that scores logits[i − 1] against token i groups its loss by label[i].
/// </summary>
public enum PredictionKind : byte
{
    /// <summary>BOS or separator: structural, not scored as part of any component.</summary>
    Special,

    /// <summary>Drawn without regard to context (first occurrence of a repeated segment, first token of a span): only base rates help.</summary>
    Random,

    /// <summary>A word from the toy language's word model: predictable from the current and the previous word.</summary>
    Text,

    /// <summary>A repeat of an earlier segment whose previous token also occurred earlier: predictable by induction (copy what followed it last time).</summary>
    Induction,

    /// <summary>A step of a Markov chain whose transition matrix is drawn per span: predictable from in-context bigram counts.</summary>
    Markov,

    /// <summary>The successor of the previous token in an ordered list (numbers, days, months, letters); also the answer of a toy-English successor prompt.</summary>
    Successor,

    /// <summary>A word of a toy-English task prompt (<see cref="ToyEnglish"/>): template words, names, fillers.</summary>
    Prompt,

    /// <summary>The answer of an IOI prompt (the indirect object's name).</summary>
    Ioi,

    /// <summary>The end year of a Greater-Than prompt (any year after the start year).</summary>
    GreaterThan,

    /// <summary>The number of a needle-in-a-haystack prompt, retrieved from the needle sentence.</summary>
    Needle,

    /// <summary>The letter of the right option of a multiple-choice question.</summary>
    Mcqa,

    /// <summary>"Yes" or "No" after a yes/no question.</summary>
    YesNo,

    /// <summary>The next letter of an acronym: the initial of the word it stands for.</summary>
    Acronym,
}
