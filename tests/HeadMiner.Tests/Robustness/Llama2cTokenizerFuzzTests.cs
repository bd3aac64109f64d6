using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace HeadMiner.Tests.Robustness;

/// <summary>
/// Damaged llama2.c tokenizer.bin files beside stories260K's checkpoint: cut short, bytes overwritten, the header's
/// max_token_length or a token's length field set to negative, zero or huge values, scores made NaN, random bytes.
/// Loading either works or fails with one error line naming the file's folder; if it loads, encoding a prompt works
/// or fails with one clear line.
/// </summary>
public sealed class Llama2cTokenizerFuzzTests : IDisposable
{
    private const string Prompt = "Once upon a time, Lily 🐱 é";
    private static readonly byte[] Valid = File.ReadAllBytes(Path.Combine(TestPaths.SharedModel("stories260K"), "tok512.bin"));
    private static readonly int[] OddInts = [0, -1, 1, 3, 255, 256, int.MaxValue, int.MinValue, 1 << 20, 0x7FC00000 /* a NaN float's bits */];

    private readonly ScratchModel _model = ScratchModel.Stories260K();

    /// <summary>Kinds: 0 cut short, 1 overwrite a byte, 2 overwrite an int32 (the header or a length field), 3 random bytes.</summary>
    private sealed record Damage(int Kind, int Position, int Value)
    {
        public byte[] Apply(byte[] valid)
        {
            var bytes = (byte[])valid.Clone();
            int at = Position % bytes.Length;
            switch (Kind)
            {
                case 0:
                    return bytes[..at];
                case 1:
                    bytes[at] = (byte)Value;
                    return bytes;
                case 2 when bytes.Length >= 4:
                    // Position 0 is the header; otherwise the length field of a token found by walking the records.
                    int offset = Value % 4 == 0 ? 0 : LengthFieldOfToken(bytes, Position % 512);
                    BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), OddInts[Value % OddInts.Length]);
                    return bytes;
                case 2:
                    return bytes;
                default:
                    var noise = new byte[Value % 64 * 16];
                    new Random(Position).NextBytes(noise);
                    return noise;
            }
        }
    }

    private static int LengthFieldOfToken(byte[] file, int token)
    {
        int offset = 4;
        for (int i = 0; i < token && offset + 8 <= file.Length; i++)
        {
            int length = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(offset + 4));
            if (length < 0 || length > file.Length) break; // already damaged: stop at this record
            offset += 8 + length;
        }
        return Math.Min(offset + 4, file.Length - 4);
    }

    /// <summary>The undamaged file loads and encodes the prompt, so the property's cases start from a working tokenizer.</summary>
    [Fact]
    public void The_undamaged_file_loads_and_encodes()
    {
        _model.Write("tokenizer.bin", Valid);
        var (code, _, err) = CliRunner.Run("logits", "-m", _model.File("stories260K.bin"), "-p", Prompt, "-k", "3");
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.Contains("SentencePieceBpeTokenizer", CliRunner.Run("info", "-m", _model.File("stories260K.bin")).Out);
    }

    [Property(MaxTest = FuzzSettings.Cases, Replay = FuzzSettings.Seed)]
    public Property A_damaged_tokenizer_bin_loads_or_fails_naming_the_file()
    {
        var damage = from kind in Gen.Choose(0, 3)
                     from position in Gen.Choose(0, 1 << 20)
                     from value in Gen.Choose(0, 1 << 16)
                     select new Damage(kind, position, value);
        var cases = damage.ListOf().Select(l => l.Take(3).ToArray()).Where(l => l.Length > 0);
        string checkpoint = _model.File("stories260K.bin");
        return Prop.ForAll(cases.ToArbitrary(), damages =>
        {
            _model.Write("tokenizer.bin", damages.Aggregate(Valid, (bytes, d) => bytes.Length == 0 ? bytes : d.Apply(bytes)));
            string input = $"tokenizer.bin damaged by {string.Join(", ", damages.Select(d => d.ToString()))}";
            var load = CliErrorContract.Run("info", "-m", checkpoint);
            CliErrorContract.SucceedsOrFailsClearly(load, _model.Folder, input);
            if (load.Code != 0) return;
            CliErrorContract.SucceedsOrFailsClearly(CliErrorContract.Run("logits", "-m", checkpoint, "-p", Prompt, "-k", "3"), null, input);
        });
    }

    public void Dispose() => _model.Dispose();
}
