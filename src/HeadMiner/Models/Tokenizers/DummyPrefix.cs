namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// When a SentencePiece-style tokenizer puts its space symbol in front of a text segment (the "dummy prefix" that
/// makes "Hello" at the start tokenize like " Hello" mid-sentence). The references differ in the details.
/// </summary>
public enum DummyPrefix
{
    /// <summary>Never (Hugging Face Metaspace prepend_scheme "never").</summary>
    None,

    /// <summary>Every non-empty segment (SentencePiece add_dummy_prefix, llama2.c run.c, Hugging Face Prepend normalizer).</summary>
    Always,

    /// <summary>Every segment not already starting with a space (Hugging Face Metaspace prepend_scheme "always").</summary>
    UnlessStartsWithSpace,

    /// <summary>Only the segment at the very start of the text, unless it starts with a space (Metaspace "first").</summary>
    FirstSegmentUnlessStartsWithSpace,
}
