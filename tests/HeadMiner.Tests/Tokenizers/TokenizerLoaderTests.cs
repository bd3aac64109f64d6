using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

public sealed class TokenizerLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("headminer-tokenizer-loader-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void PicksVocabAndMergesForGpt2()
    {
        Assert.IsType<ByteLevelBpeTokenizer>(TokenizerLoader.Load(TokenizerTestFiles.Gpt2Directory));
    }

    [Fact]
    public void PicksTheTokBinNextToALlama2cCheckpoint()
    {
        string checkpoint = TokenizerTestFiles.SharedFile("stories260K", "stories260K.bin");
        var tok = TokenizerLoader.Load(checkpoint);
        Assert.IsType<SentencePieceBpeTokenizer>(tok);
        Assert.Equal(512, tok.VocabSize);
        Assert.IsType<SentencePieceBpeTokenizer>(TokenizerLoader.Load(TokenizerTestFiles.Stories260KDirectory));
    }

    [Fact]
    public void AnEmptyFolderSaysWhatWasLookedFor()
    {
        var e = Assert.Throws<HeadMinerException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains(_dir, e.Message);
        foreach (string name in new[] { "tokenizer.json", "vocab.json", "merges.txt", "tokenizer.bin", "tok*.bin" }) Assert.Contains(name, e.Message);
    }

    [Fact]
    public void HalfAGpt2TokenizerIsNamed()
    {
        File.WriteAllText(Path.Combine(_dir, "vocab.json"), "{}");
        Assert.Contains("merges.txt is not", Assert.Throws<HeadMinerException>(() => TokenizerLoader.Load(_dir)).Message);
    }

    [Fact]
    public void TruncatedLlama2cFileNamesTheTokenAndFile()
    {
        byte[] real = File.ReadAllBytes(TokenizerTestFiles.SharedFile("stories260K", "tok512.bin"));
        string path = Path.Combine(_dir, "tokenizer.bin");
        File.WriteAllBytes(path, real[..101]);
        var e = Assert.Throws<HeadMinerException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains(path, e.Message);
        Assert.Contains("token", e.Message);
    }

    [Fact]
    public void MissingFolderIsAUserError()
    {
        Assert.Contains("no-such-folder", Assert.Throws<HeadMinerException>(() => TokenizerLoader.Load(Path.Combine(_dir, "no-such-folder"))).Message);
    }
}
