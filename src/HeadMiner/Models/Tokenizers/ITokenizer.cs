namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// Text to token ids and back, exactly as the model's reference tokenizer does it.
/// </summary>
/// <remarks>
/// <para><b>Round trip.</b> For every well-formed string s, <c>Decode(Encode(s)) == s</c>, with or without BOS.
/// Ill-formed UTF-16 (a lone surrogate) is encoded as U+FFFD, as the references (Hugging Face tokenizers, tiktoken,
/// TextEncoder) do, so it decodes to U+FFFD. Bytes that are not valid UTF-8 in a decoded id sequence (a sequence cut
/// inside a character) also decode to U+FFFD.</para>
/// <para><b>Special tokens</b> (added tokens such as <c>&lt;|endoftext|&gt;</c> or <c>&lt;s&gt;</c>) are matched
/// literally in the input before anything else, as Hugging Face tokenizers do.</para>
/// </remarks>
public interface ITokenizer
{
    /// <summary>Number of ids, special tokens included: every id is in [0, VocabSize).</summary>
    int VocabSize { get; }

    /// <summary>Beginning-of-sequence id, or null if the model has none.</summary>
    int? BosId { get; }

    /// <summary>End-of-sequence id, or null if the model has none.</summary>
    int? EosId { get; }

    /// <summary>Whether <see cref="Encode"/> prepends <see cref="BosId"/> when not told otherwise (GPT-2: no; Llama: yes).</summary>
    bool AddsBosByDefault { get; }

    /// <summary>
    /// Why <see cref="AddsBosByDefault"/> is what it is, for the note every command prints ("add_bos_token is true in
    /// tokenizer_config.json"): a wrong BOS choice silently shifts every position, so it is never left unsaid.
    /// </summary>
    string BosRule { get; }

    /// <summary>
    /// Token ids of <paramref name="text"/>; <paramref name="addBos"/> null means <see cref="AddsBosByDefault"/>.
    /// Asking for BOS from a tokenizer without one throws <see cref="HeadMinerException"/>.
    /// </summary>
    int[] Encode(string text, bool? addBos = null);

    /// <summary>
    /// The text of <paramref name="ids"/>. Byte-level tokenizers render special tokens as their text. SentencePiece
    /// tokenizers drop special tokens (BOS, EOS, unk) and the dummy-prefix space: from a tokenizer.json, the leading
    /// spaces its decoder strips, once, at the start of the text (Hugging Face); from a llama2.c file, the one of the
    /// first piece and of the piece after each BOS (run.c). Out-of-range ids throw <see cref="HeadMinerException"/>.
    /// </summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>
    /// A readable view of one token for reports: the text it decodes to (a GPT-2 "Ġthe" is " the", a SentencePiece
    /// "▁the" is " the", a byte-fallback &lt;0x0A&gt; is "\n"); bytes that are not a whole UTF-8 character on their
    /// own are shown as &lt;0xNN&gt;; special tokens as their name (&lt;s&gt;, &lt;|endoftext|&gt;).
    /// </summary>
    string TokenToString(int id);

    /// <summary>The id of a vocabulary entry spelled as the vocabulary stores it ("Ġthe", "▁the"), or null.</summary>
    int? TokenToId(string piece);

    /// <summary><see cref="TokenToString"/> of each id of <see cref="Encode"/>(<paramref name="text"/>, false).</summary>
    IReadOnlyList<string> Tokens(string text);
}
