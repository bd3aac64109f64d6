using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Formats;

/// <summary>
/// Seeded mutation fuzzing of <see cref="SafetensorsFile"/>: thousands of damaged variants of one valid file (truncations,
/// byte flips, lying header lengths, structural JSON edits, raw-text JSON corruption). Every case must either load —
/// and then every tensor must read — or throw <see cref="HeadMinerException"/>; never another exception, never a hang,
/// never an allocation driven by a lying length field.
/// </summary>
public class SafetensorsFuzzTests(ITestOutputHelper output)
{
    private const ulong Seed = 0x5AFE_7E45;
    private const long AllocationBoundPerCase = 4L << 20;
    private static readonly TimeSpan CaseTimeLimit = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan WholeRunLimit = TimeSpan.FromSeconds(60);

    private sealed record FuzzCase(string Description, byte[] Bytes);

    private sealed class Outcome
    {
        public int Loaded, Rejected, Finished;
        public volatile string Current = "";
        public readonly List<string> Failures = [];
        public double Seconds;
    }

    [Fact]
    public void MutatedFilesLoadCompletelyOrFailWithHeadMinerException()
    {
        using var dir = TestPaths.NewTempDirectory();
        byte[] valid = BuildValidFile(dir.File("valid.safetensors"));
        var cases = GenerateCases(valid, new SeededRandom(Seed)).ToList();
        Assert.InRange(cases.Count, 3000, 6000);

        var outcome = new Outcome();
        string path = dir.File("case.safetensors");
        // A dedicated thread, so a hang is caught by the watchdog below and allocations are measured per case.
        var worker = new Thread(() => RunAll(cases, path, outcome)) { IsBackground = true, Name = "safetensors-fuzz" };
        worker.Start();
        Assert.True(worker.Join(WholeRunLimit), $"fuzzing hung (or ran past {WholeRunLimit}) at case #{outcome.Finished}: {outcome.Current}");

        output.WriteLine($"{cases.Count} cases in {outcome.Seconds:F2} s ({cases.Count / outcome.Seconds:F0}/s): {outcome.Loaded} loaded, {outcome.Rejected} rejected");
        Assert.True(outcome.Failures.Count == 0, $"{outcome.Failures.Count} bad outcomes, first ones:\n" + string.Join("\n", outcome.Failures.Take(10)));
        Assert.Equal(cases.Count, outcome.Loaded + outcome.Rejected);
        // Both paths must be exercised: harmless mutations (data flips, extra fields, reordering) load.
        Assert.True(outcome.Loaded > 200, $"only {outcome.Loaded} cases loaded");
        Assert.True(outcome.Rejected > 2000, $"only {outcome.Rejected} cases were rejected");
    }

    [Fact]
    public void CaseGenerationIsDeterministic()
    {
        using var dir = TestPaths.NewTempDirectory();
        byte[] valid = BuildValidFile(dir.File("valid.safetensors"));
        var first = GenerateCases(valid, new SeededRandom(Seed)).Take(4000).Select(c => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(c.Bytes)));
        var second = GenerateCases(valid, new SeededRandom(Seed)).Take(4000).Select(c => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(c.Bytes)));
        Assert.Equal(first, second);
    }

    private static void RunAll(List<FuzzCase> cases, string path, Outcome outcome)
    {
        var total = Stopwatch.StartNew();
        for (int i = 0; i < cases.Count; i++)
        {
            var fuzzCase = cases[i];
            outcome.Current = fuzzCase.Description;
            Overwrite(path, fuzzCase.Bytes);
            var clock = Stopwatch.StartNew();
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var file = SafetensorsFile.Open(path);
                ReadEverything(file);
                outcome.Loaded++;
            }
            catch (HeadMinerException e)
            {
                outcome.Rejected++;
                if (!e.Message.Contains(path, StringComparison.Ordinal))
                    outcome.Failures.Add($"#{i} {fuzzCase.Description}: message does not name the file: {e.Message}");
            }
            catch (Exception e)
            {
                outcome.Failures.Add($"#{i} {fuzzCase.Description}: {e.GetType().Name}: {e.Message}");
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            if (allocated > AllocationBoundPerCase)
                outcome.Failures.Add($"#{i} {fuzzCase.Description}: allocated {allocated} bytes for a {fuzzCase.Bytes.Length}-byte file");
            if (clock.Elapsed > CaseTimeLimit)
                outcome.Failures.Add($"#{i} {fuzzCase.Description}: took {clock.Elapsed.TotalSeconds:F1} s");
            outcome.Finished = i + 1;
        }
        outcome.Seconds = total.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Replaces the file's content without truncating it to zero first: on ext4 a truncate-to-zero-and-rewrite forces
    /// a flush on close (auto_da_alloc), which made each case cost milliseconds instead of microseconds.
    /// </summary>
    private static void Overwrite(string path, byte[] bytes)
    {
        using var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite, bufferSize: 1);
        stream.Write(bytes);
        stream.SetLength(bytes.Length);
    }

    /// <summary>Once a file loads, every tensor must be readable in every way its dtype allows.</summary>
    private static void ReadEverything(SafetensorsFile file)
    {
        foreach (string name in file.TensorNames)
        {
            var info = file.Info(name);
            if (file.RawBytes(name).Length != info.ByteLength) throw new InvalidOperationException($"raw bytes of '{name}' have the wrong length");
            if (info.DType.IsFloatConvertible())
            {
                var tensor = file.GetFloat32(name);
                if (tensor.Length != info.ElementCount || !tensor.Shape.SequenceEqual(info.Shape))
                    throw new InvalidOperationException($"tensor '{name}' has shape {tensor.ShapeString}, header says {info}");
                // Tensor currently calls an empty tensor with a zero in a non-leading axis (e.g. [0, 7, 0]) a strided
                // view, so its Span throws; that is a Tensor issue, not a reader one, and empty tensors have no data.
                if (tensor.Length > 0)
                {
                    float sum = 0;
                    foreach (float v in tensor.Span) sum += v; // touch the data
                    _ = sum;
                }
            }
            if (info.DType.IsHalf()) _ = file.GetHalf(name).ToFloat();
        }
    }

    // ---- the seed file ------------------------------------------------------------------------------------------

    private static byte[] BuildValidFile(string path)
    {
        new SafetensorsWriter()
            .AddMetadata("format", "pt")
            .AddMetadata("source", "fuzz seed")
            .Add("w", Tensor.RandomNormal(1, 1f, 4, 3))
            .Add("bias", Tensor.RandomNormal(2, 1f, 3))
            .Add("h16", Tensor.RandomNormal(3, 1f, 5), SafetensorsDType.F16)
            .Add("b16", Tensor.RandomNormal(4, 1f, 2, 3), SafetensorsDType.BF16)
            .AddRaw("ids", SafetensorsDType.I64, [2], new byte[16])
            .AddRaw("flags", SafetensorsDType.Bool, [3], [1, 0, 1])
            .AddRaw("bytes", SafetensorsDType.U8, [4], [1, 2, 3, 4])
            .Add("scalar", Tensor.FromSpan([7f]).Reshape())
            .Add("empty", Tensor.Zeros(0, 7))
            .Save(path);
        return File.ReadAllBytes(path);
    }

    // ---- mutations ----------------------------------------------------------------------------------------------

    private static IEnumerable<FuzzCase> GenerateCases(byte[] valid, SeededRandom random)
    {
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        int dataStart = 8 + headerLength;
        var data = valid.AsSpan(dataStart).ToArray();
        string json = Encoding.UTF8.GetString(valid, 8, headerLength).TrimEnd(' ');

        yield return new FuzzCase("unmodified", valid);

        // Truncation at every length.
        for (int length = 0; length < valid.Length; length++)
            yield return new FuzzCase($"truncated to {length} bytes", valid[..length]);

        // One flipped byte at every header position (length field included), then random positions anywhere.
        for (int position = 0; position < dataStart; position++)
        {
            var bytes = (byte[])valid.Clone();
            bytes[position] ^= (byte)random.NextInt(1, 256);
            yield return new FuzzCase($"header byte {position} flipped", bytes);
        }
        for (int i = 0; i < 400; i++)
        {
            var bytes = (byte[])valid.Clone();
            int flips = random.NextInt(1, 9);
            for (int f = 0; f < flips; f++) bytes[random.NextInt(bytes.Length)] = (byte)random.NextInt(256);
            yield return new FuzzCase($"{flips} random bytes overwritten (case {i})", bytes);
        }
        for (int i = 0; i < 150; i++)
        {
            var bytes = (byte[])valid.Clone();
            bytes[dataStart + random.NextInt(data.Length)] ^= (byte)random.NextInt(1, 256);
            yield return new FuzzCase($"data byte flipped (case {i})", bytes);
        }

        // Lying header lengths.
        var lengths = new List<ulong>
        {
            0, 1, 2, 7, 8, (ulong)headerLength - 1, (ulong)headerLength + 1, (ulong)valid.Length - 8, (ulong)valid.Length - 7,
            (ulong)valid.Length, SafetensorsFile.MaxHeaderBytes, SafetensorsFile.MaxHeaderBytes + 1, int.MaxValue, (ulong)int.MaxValue + 1,
            uint.MaxValue, 1UL << 32, long.MaxValue, 1UL << 63, ulong.MaxValue,
        };
        for (int i = 0; i < 100; i++) lengths.Add(random.NextUInt64() >> random.NextInt(64));
        foreach (ulong length in lengths)
        {
            var bytes = (byte[])valid.Clone();
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
            yield return new FuzzCase($"header length set to {length}", bytes);
        }

        // Structural JSON edits: 1–3 mutations of a parsed header, re-serialised with a correct length field.
        var mutators = StructuralMutators(data.Length);
        for (int i = 0; i < 2200; i++)
        {
            var root = JsonNode.Parse(json)!.AsObject();
            var applied = new List<string>();
            int count = random.NextInt(1, 4);
            for (int m = 0; m < count; m++)
            {
                var (name, mutate) = mutators[random.NextInt(mutators.Count)];
                applied.Add(mutate(root, random) is { } detail ? $"{name}({detail})" : name);
            }
            yield return new FuzzCase("json: " + string.Join(", ", applied), SafetensorsBytes.Compose(root.ToJsonString(), data));
        }

        // Raw-text JSON corruption: what a JSON DOM cannot express.
        for (int i = 0; i < 700; i++)
        {
            var (name, header) = RawMutation(json, random);
            yield return new FuzzCase("raw: " + name, SafetensorsBytes.Compose(header, data, pad: random.NextInt(2) == 0));
        }
    }

    private static string[] TensorNames(JsonObject root) => root.Select(p => p.Key).Where(k => k != "__metadata__").ToArray();

    private static string PickTensor(JsonObject root, SeededRandom random)
    {
        var names = TensorNames(root);
        return names.Length == 0 ? "w" : names[random.NextInt(names.Length)];
    }

    private static JsonObject? EntryOf(JsonObject root, string name) => root[name] as JsonObject;

    private static JsonNode? Interesting(SeededRandom random, long dataLength)
    {
        return random.NextInt(16) switch
        {
            0 => JsonValue.Create(-1),
            1 => JsonValue.Create(0),
            2 => JsonValue.Create(1),
            3 => JsonValue.Create(dataLength),
            4 => JsonValue.Create(dataLength + 1),
            5 => JsonValue.Create(long.MaxValue),
            6 => JsonValue.Create(ulong.MaxValue),
            7 => JsonValue.Create(1e300),
            8 => JsonValue.Create(0.5),
            9 => JsonValue.Create("8"),
            10 => null,
            11 => JsonValue.Create(true),
            12 => JsonValue.Create(int.MaxValue),
            13 => JsonValue.Create((long)int.MaxValue + 1),
            14 => JsonValue.Create(long.MinValue),
            _ => JsonValue.Create(random.NextInt(0, (int)dataLength + 8)),
        };
    }

    private delegate string? Mutator(JsonObject root, SeededRandom random);

    private static List<(string Name, Mutator Mutate)> StructuralMutators(long dataLength) =>
    [
        ("offset", (root, r) =>
        {
            string t = PickTensor(root, r);
            if (EntryOf(root, t)?["data_offsets"] is not JsonArray { Count: 2 } offsets) return t;
            int which = r.NextInt(2);
            var value = Interesting(r, dataLength);
            offsets[which] = value;
            return $"{t}[{which}]={value?.ToJsonString() ?? "null"}";
        }),
        ("overlap", (root, r) =>
        {
            string a = PickTensor(root, r), b = PickTensor(root, r);
            if (EntryOf(root, a) is not { } ea || EntryOf(root, b) is not { } eb || ea["data_offsets"] is not JsonArray oa) return null;
            eb["data_offsets"] = oa.DeepClone();
            return $"{b}<-{a}";
        }),
        ("swap-offsets", (root, r) =>
        {
            string t = PickTensor(root, r);
            if (EntryOf(root, t)?["data_offsets"] is not JsonArray { Count: 2 } o) return t;
            var (x, y) = (o[0]?.DeepClone(), o[1]?.DeepClone());
            o[0] = y;
            o[1] = x;
            return t;
        }),
        ("shift-offsets", (root, r) =>
        {
            string t = PickTensor(root, r);
            if (EntryOf(root, t)?["data_offsets"] is not JsonArray { Count: 2 } o || o[0] is not JsonValue b || o[1] is not JsonValue e
                || !b.TryGetValue(out long begin) || !e.TryGetValue(out long end)) return t;
            long delta = r.NextInt(-9, 10);
            o[0] = begin + delta;
            o[1] = end + delta;
            return $"{t} by {delta}";
        }),
        ("shape-dim", (root, r) =>
        {
            string t = PickTensor(root, r);
            if (EntryOf(root, t)?["shape"] is not JsonArray { Count: > 0 } shape) return t;
            int axis = r.NextInt(shape.Count);
            var value = Interesting(r, dataLength);
            shape[axis] = value;
            return $"{t}[{axis}]={value?.ToJsonString() ?? "null"}";
        }),
        ("shape-rank", (root, r) =>
        {
            string t = PickTensor(root, r);
            if (EntryOf(root, t)?["shape"] is not JsonArray shape) return t;
            if (shape.Count > 0 && r.NextInt(2) == 0) shape.RemoveAt(shape.Count - 1);
            else shape.Add(r.NextInt(0, 4));
            return t;
        }),
        ("shape-overflow", (root, r) =>
        {
            string t = PickTensor(root, r);
            if (EntryOf(root, t) is not { } e) return t;
            var dims = new JsonArray();
            int rank = r.NextInt(2, 6);
            for (int i = 0; i < rank; i++) dims.Add(r.NextInt(2) == 0 ? int.MaxValue : 1 << r.NextInt(10, 31));
            if (r.NextInt(4) == 0) dims.Add(0); // zero makes it empty: must not be called an overflow
            e["shape"] = dims;
            return $"{t}:{dims.ToJsonString()}";
        }),
        ("shape-huge-rank", (root, r) =>
        {
            string t = PickTensor(root, r);
            if (EntryOf(root, t) is not { } e) return t;
            var dims = new JsonArray();
            int rank = r.NextInt(60, 200);
            for (int i = 0; i < rank; i++) dims.Add(1);
            e["shape"] = dims;
            return $"{t} rank {rank}";
        }),
        ("dtype", (root, r) =>
        {
            string t = PickTensor(root, r);
            if (EntryOf(root, t) is not { } e) return t;
            string[] choices = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "f32", "", "BF16 ", "U64", "complex64"];
            JsonNode? value = r.NextInt(8) == 0 ? JsonValue.Create(32) : JsonValue.Create(choices[r.NextInt(choices.Length)]);
            e["dtype"] = value;
            return $"{t}={value?.ToJsonString()}";
        }),
        ("remove-field", (root, r) =>
        {
            string t = PickTensor(root, r);
            string field = new[] { "dtype", "shape", "data_offsets" }[r.NextInt(3)];
            EntryOf(root, t)?.Remove(field);
            return $"{t}.{field}";
        }),
        ("wrong-type", (root, r) =>
        {
            string t = PickTensor(root, r);
            string field = new[] { "dtype", "shape", "data_offsets" }[r.NextInt(3)];
            JsonNode? value = r.NextInt(6) switch
            {
                0 => JsonValue.Create("0,8"),
                1 => new JsonObject(),
                2 => new JsonArray(),
                3 => new JsonArray(0),
                4 => new JsonArray(0, 1, 2),
                _ => null,
            };
            if (EntryOf(root, t) is { } e) e[field] = value;
            return $"{t}.{field}={value?.ToJsonString() ?? "null"}";
        }),
        ("entry-type", (root, r) =>
        {
            string t = PickTensor(root, r);
            root[t] = r.NextInt(5) switch
            {
                0 => JsonValue.Create("tensor"),
                1 => JsonValue.Create(3),
                2 => new JsonArray(1, 2),
                3 => new JsonObject(),
                _ => null,
            };
            return t;
        }),
        ("extra-field", (root, r) =>
        {
            string t = PickTensor(root, r);
            if (EntryOf(root, t) is { } e) e["note_" + r.NextInt(100)] = new JsonArray(1, "x", null);
            return t;
        }),
        ("rename", (root, r) =>
        {
            string t = PickTensor(root, r);
            if (root[t] is not { } node) return t;
            root.Remove(t);
            string renamed = r.NextInt(4) switch
            {
                0 => "",
                1 => "ünï✓\u0000\t名前",
                2 => new string('n', r.NextInt(1000, 20000)),
                _ => t + "_renamed",
            };
            if (!root.ContainsKey(renamed)) root[renamed] = node;
            return $"{t} -> {ErrorTextClip(renamed)}";
        }),
        ("reorder", (root, r) =>
        {
            var entries = root.ToList();
            root.Clear();
            var keys = entries.ToArray();
            r.Shuffle(keys.AsSpan());
            foreach (var (key, value) in keys) root[key] = value;
            return null;
        }),
        ("metadata", (root, r) =>
        {
            JsonNode? value = r.NextInt(6) switch
            {
                0 => JsonValue.Create("pt"),
                1 => new JsonObject { ["k"] = 1 },
                2 => new JsonObject { ["k"] = new JsonObject() },
                3 => new JsonArray("a"),
                4 => new JsonObject { ["k"] = "v", ["ünï"] = "✓" },
                _ => null,
            };
            root["__metadata__"] = value;
            return value?.ToJsonString() ?? "null";
        }),
        ("new-tensor", (root, r) =>
        {
            long begin = r.NextInt(0, (int)dataLength + 4), length = r.NextInt(0, 16);
            root["new" + r.NextInt(1000)] = new JsonObject
            {
                ["dtype"] = "U8",
                ["shape"] = new JsonArray(length),
                ["data_offsets"] = new JsonArray(begin, begin + length),
            };
            return $"U8 [{begin}, {begin + length})";
        }),
        ("root-type", (root, r) =>
        {
            // Emptying the object is the one root-level edit a JsonObject can express; other root types are raw mutations.
            root.Clear();
            return null;
        }),
    ];

    private static string ErrorTextClip(string s) => s.Length <= 24 ? s : s[..24] + "…";

    private static (string Name, byte[] Header) RawMutation(string json, SeededRandom random)
    {
        var utf8 = Encoding.UTF8.GetBytes(json);
        int at = random.NextInt(utf8.Length + 1);
        byte[] Insert(ReadOnlySpan<byte> bytes) => [.. utf8.AsSpan(0, at), .. bytes, .. utf8.AsSpan(at)];
        switch (random.NextInt(12))
        {
            case 0:
                {
                    int depth = random.NextInt(2) == 0 ? random.NextInt(10, 100) : random.NextInt(1000, 100_000);
                    string nested = "{\"deep\":" + new string('[', depth) + new string(']', depth) + "," + json[1..];
                    return ($"nesting depth {depth}", Encoding.UTF8.GetBytes(nested));
                }
            case 1:
                {
                    int depth = random.NextInt(10, 5000);
                    var sb = new StringBuilder();
                    for (int i = 0; i < depth; i++) sb.Append("{\"a\":");
                    sb.Append('1').Append('}', depth);
                    return ($"nested objects depth {depth}", Encoding.UTF8.GetBytes(sb.ToString()));
                }
            case 2:
                {
                    byte[][] invalid = [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80]];
                    var bad = invalid[random.NextInt(invalid.Length)];
                    return ($"invalid UTF-8 {Convert.ToHexString(bad)} at {at}", Insert(bad));
                }
            case 3:
                {
                    // An unpaired surrogate escape is valid JSON syntax but not a valid string.
                    int name = json.IndexOf("\"w\"", StringComparison.Ordinal);
                    string s = json[..(name + 1)] + "\\ud800" + json[(name + 1)..];
                    return ("lone surrogate escape in a name", Encoding.UTF8.GetBytes(s));
                }
            case 4:
                {
                    // Duplicate a tensor entry (same key twice), which a JSON DOM cannot hold.
                    int start = json.IndexOf("\"bias\":", StringComparison.Ordinal);
                    int end = json.IndexOf('}', start) + 1;
                    string entry = json[start..end];
                    return ("duplicate key 'bias'", Encoding.UTF8.GetBytes(json[..^1] + "," + entry + "}"));
                }
            case 5:
                {
                    string s = json.Replace("\"__metadata__\":{", "\"__metadata__\":{\"format\":\"x\",", StringComparison.Ordinal)
                        + (random.NextInt(2) == 0 ? "" : " ");
                    return ("duplicate metadata key", Encoding.UTF8.GetBytes(s));
                }
            case 6:
                return ($"JSON cut at {at}", utf8[..at]);
            case 7:
                {
                    string[] garbage = ["x", ",", "}", "{}", "// c", "/* c */", "\u0000", "\t\r\n", "null", ",}"];
                    string g = garbage[random.NextInt(garbage.Length)];
                    return ($"inserted {Escape(g)} at {at}", Insert(Encoding.UTF8.GetBytes(g)));
                }
            case 8:
                {
                    string[] roots = ["[]", "null", "\"x\"", "1", "true", "", " ", "{", "[{}]"];
                    string r = roots[random.NextInt(roots.Length)];
                    return ($"root {Escape(r)}", Encoding.UTF8.GetBytes(r));
                }
            case 9:
                {
                    var bytes = (byte[])utf8.Clone();
                    if (bytes.Length > 0) bytes[random.NextInt(bytes.Length)] = (byte)random.NextInt(0x20, 0x7F);
                    return ("one ASCII character replaced", bytes);
                }
            case 10:
                {
                    string digits = new('9', random.NextInt(20, 400));
                    string s = json.Replace("\"data_offsets\":[0,", "\"data_offsets\":[" + digits + ",", StringComparison.Ordinal);
                    return ($"{digits.Length}-digit offset", Encoding.UTF8.GetBytes(s));
                }
            default:
                {
                    string s = json.Replace("\"shape\":[4,3]", "\"shape\":[4e0,3]", StringComparison.Ordinal);
                    return ("exponent in a shape", Encoding.UTF8.GetBytes(s));
                }
        }
    }

    private static string Escape(string s) => s.Replace("\u0000", "\\0", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)
        .Replace("\r", "\\r", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);
}
