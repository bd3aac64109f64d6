using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace HeadMiner.Tests.Robustness;

/// <summary>
/// Malformed variants of a line-based text file (merges.txt): lines deleted, replaced by odd lines (too few or too
/// many fields, unknown tokens, control characters, a header in the middle) or by invalid UTF-8, then optionally
/// damage to the bytes. A recipe of integers, so FsCheck's seed fixes every case.
/// </summary>
internal sealed record LineMutation(IReadOnlyList<(int Kind, int Target, int Value)> Edits, ByteDamage Damage)
{
    public static Gen<LineMutation> Generator { get; } =
        from edits in Gen.Choose(0, 2).SelectMany(k => Gen.Choose(0, 1 << 20), (k, t) => (k, t))
            .SelectMany(kt => Gen.Choose(0, 1 << 20), (kt, v) => (kt.k, kt.t, v)).ListOf().Select(l => l.Take(3).ToArray())
        from damage in ByteDamage.Generator
        select new LineMutation(edits, damage);

    private static readonly string[] OddLines =
    [
        "", "a", "a b c", "zz qq", " a", "a ", "\t", "#version: 0.2", "Ġ Ġ", "ĠĠĠ x", "a\u0000 b", "\u001b[2J x", "\ud800 a", new string('h', 3000) + " e",
    ];

    public byte[] Apply(IReadOnlyList<string> validLines)
    {
        var lines = validLines.ToList();
        var invalid = new HashSet<int>();
        foreach (var (kind, target, value) in Edits)
        {
            if (lines.Count == 0) break;
            int at = target % lines.Count;
            switch (kind)
            {
                case 0:
                    lines.RemoveAt(at);
                    break;
                case 1:
                    lines[at] = OddLines[value % OddLines.Length];
                    break;
                default:
                    invalid.Add(at); // written below as bytes that are not UTF-8
                    break;
            }
        }
        var bytes = new List<byte>();
        for (int i = 0; i < lines.Count; i++)
        {
            bytes.AddRange(invalid.Contains(i) ? [0xC3, 0x28, 0x20, 0xFF] : Encoding.UTF8.GetBytes(lines[i]));
            bytes.Add((byte)'\n');
        }
        return Damage.Apply([.. bytes]);
    }

    public override string ToString() => $"lines [{string.Join(", ", Edits.Select(e => $"({e.Kind},{e.Target},{e.Value})"))}], {Damage}";
}
