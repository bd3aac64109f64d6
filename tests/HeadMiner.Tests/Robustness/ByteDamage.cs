using FsCheck;
using FsCheck.Fluent;

namespace HeadMiner.Tests.Robustness;

/// <summary>
/// Damage to a file's bytes, most often none: cut short at a position, one byte made invalid UTF-8, the whole file
/// replaced by seeded random bytes, or garbage appended. A recipe of integers, so FsCheck's seed fixes it.
/// </summary>
internal sealed record ByteDamage(int Kind, int Position, int Value)
{
    public static Gen<ByteDamage> Generator { get; } =
        from kind in Gen.Frequency((6, Gen.Constant(0)), (1, Gen.Choose(1, 4)))
        from position in Gen.Choose(0, 1 << 20)
        from value in Gen.Choose(0, 255)
        select new ByteDamage(kind, position, value);

    public byte[] Apply(byte[] bytes)
    {
        int at = bytes.Length == 0 ? 0 : Position % bytes.Length;
        switch (Kind)
        {
            case 1:
                return bytes[..at];
            case 2: // 0xFF, an overlong lead byte, or a lone continuation byte
                bytes = (byte[])bytes.Clone();
                if (bytes.Length > 0) bytes[at] = (Value % 3) switch { 0 => 0xFF, 1 => 0xC0, _ => (byte)(0x80 | (Value & 0x3F)) };
                return bytes;
            case 3:
                var noise = new byte[Value * 8];
                new Random(Position).NextBytes(noise);
                return noise;
            case 4:
                return [.. bytes, .. "}{\"x\":\n\u0001"u8.ToArray()];
            default:
                return bytes;
        }
    }

    public override string ToString() => Kind == 0 ? "bytes intact" : $"bytes damaged ({Kind}, {Position}, {Value})";
}
