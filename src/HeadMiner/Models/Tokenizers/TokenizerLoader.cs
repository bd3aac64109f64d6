using HeadMiner.Tensors;

namespace HeadMiner.Models.Tokenizers;

/// <summary>Finds and loads the tokenizer that sits in a model folder.</summary>
public static class TokenizerLoader
{
    // FileLinks.Exists instead of File.Exists: a dangling symbolic link (a Hugging Face cache missing a blob) must
    // fail loudly when it is read, not make the model load silently without its tokenizer.

    /// <summary>Whether <paramref name="directory"/> holds any tokenizer file <see cref="Load"/> would look at.</summary>
    public static bool HasTokenizer(string directory) =>
        Directory.Exists(directory)
        && (FileLinks.Exists(Path.Combine(directory, "tokenizer.json")) || FileLinks.Exists(Path.Combine(directory, "vocab.json"))
            || FileLinks.Exists(Path.Combine(directory, "merges.txt")) || FileLinks.Exists(Path.Combine(directory, "tokenizer.bin"))
            || Directory.GetFiles(directory, "tok*.bin").Length > 0);

    /// <summary>
    /// Loads, in this order of preference: <c>tokenizer.json</c> (Hugging Face), <c>vocab.json</c> + <c>merges.txt</c> (GPT-2) — both with
    /// <c>tokenizer_config.json</c> for BOS/EOS and add_bos_token when present, <c>tokenizer.bin</c> or a single
    /// <c>tok*.bin</c> (llama2.c). <paramref name="modelPath"/> may be the folder or a file in it (a llama2.c checkpoint).
    /// </summary>
    public static ITokenizer Load(string modelPath)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        string directory = File.Exists(modelPath) ? Path.GetDirectoryName(Path.GetFullPath(modelPath))! : modelPath;
        if (!Directory.Exists(directory)) throw new HeadMinerException($"{modelPath}: no such model folder");

        string json = Path.Combine(directory, "tokenizer.json");
        string config = Path.Combine(directory, TokenizerConfig.FileName);
        if (FileLinks.Exists(json)) return HuggingFaceTokenizerJson.Load(json, config);

        string vocab = Path.Combine(directory, "vocab.json");
        string merges = Path.Combine(directory, "merges.txt");
        if (FileLinks.Exists(vocab) && FileLinks.Exists(merges)) return ByteLevelBpeTokenizer.FromVocabAndMerges(vocab, merges, config);

        string bin = Path.Combine(directory, "tokenizer.bin");
        if (FileLinks.Exists(bin)) return SentencePieceBpeTokenizer.FromLlama2cFile(bin);
        string[] tokBins = Directory.GetFiles(directory, "tok*.bin");
        Array.Sort(tokBins, StringComparer.Ordinal);
        if (tokBins.Length == 1) return SentencePieceBpeTokenizer.FromLlama2cFile(tokBins[0]);
        if (tokBins.Length > 1)
        {
            throw new HeadMinerException($"{directory}: several llama2.c tokenizers ({string.Join(", ", tokBins.Select(Path.GetFileName))}); keep one or name it tokenizer.bin");
        }

        string half = FileLinks.Exists(vocab) ? " (vocab.json is there but merges.txt is not)" : FileLinks.Exists(merges) ? " (merges.txt is there but vocab.json is not)" : "";
        throw new HeadMinerException($"{directory}: no tokenizer found; looked for tokenizer.json, vocab.json + merges.txt{half}, tokenizer.bin, tok*.bin");
    }
}
