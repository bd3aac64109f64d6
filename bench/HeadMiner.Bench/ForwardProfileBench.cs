using System.Diagnostics;
using System.Runtime.InteropServices;
using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using HeadMiner.Tensors.Kernels.GemmParts;

namespace HeadMiner.Bench;

/// <summary>
/// `forward-profile [--dir D] [--precision fp32|bf16] [--forwards N] [--tokens T] [--batch B] [--compare-packing|--compare-few-rows|--compare-page-cache|--after-traffic GIB|--after-free GIB [--wait-ms MS]]`: N forwards of B
/// sequences of T seeded random tokens (default the Llama-3.2-1B-shaped BF16 checkpoint of <see cref="ScaleCheckpoints"/>, 1×128),
/// each timed, then each of that model's weight products timed alone at the same row count (same kernels, same
/// precision), so the forward's time splits into GEMMs and the rest (attention, norms, rotary, activations). Meant to
/// run under a sampling profiler (`perf record` with DOTNET_PerfMapEnabled=1) for the per-method split.
/// --compare-packing: instead, the forward with the weights packed once (<see cref="Transformer.PackedWeightBudgetBytes"/>)
/// against a second copy of the model that packs them every product, in alternating pairs, with the median ratio
/// (above <see cref="PackedWeights.MaxRows"/> rows both run the same path: the comparison then measures noise).
/// --compare-few-rows: likewise, the GEMM's few-rows order up to <see cref="GemmBlocking.DefaultFewRowsMaxRows"/> rows
/// against the earlier limit of <see cref="GemmBlocking.Mc"/> rows, in alternating forwards, logits checked identical.
/// --compare-page-cache: the forward on two fresh copies of the checkpoint, one cached in 2 MiB folios and one in small
/// ones (see ComparePageCache), alternating, logits checked identical.
/// </summary>
public static class ForwardProfileBench
{
    public static int Run(string[] args)
    {
        string dir = BenchArgs.Option(args, "--dir") ?? ScaleCheckpoints.Directory(ScaleCheckpoints.Llama1B);
        var precision = BenchArgs.Option(args, "--precision") == "bf16" ? ArithmeticPrecision.Bf16 : ArithmeticPrecision.Fp32;
        int forwards = int.Parse(BenchArgs.Option(args, "--forwards") ?? "5");
        int tokens = int.Parse(BenchArgs.Option(args, "--tokens") ?? "128");
        int sequences = int.Parse(BenchArgs.Option(args, "--batch") ?? "1");
        bool gemmsOnly = args.Contains("--gemms-only"), forwardOnly = args.Contains("--forward-only");

        using var loaded = ModelLoader.Load(dir);
        var model = loaded.Model;
        model.Precision = precision;
        var c = model.Config;
        Console.WriteLine($"{dir}: {c.Layers} layers, d {c.DModel}, heads {c.Heads}/{c.KvHeads}, d_mlp {c.DMlp}, vocab {c.VocabSize}; {sequences}×{tokens}; {precision}; {WorkerPool.MaxThreads} threads; bf16 kernels: {GemmBf16.Implementation}");

        if (args.Contains("--compare-packing")) return ComparePacking(dir, model, sequences, tokens, forwards);
        if (args.Contains("--compare-few-rows")) return CompareFewRows(model, sequences, tokens, forwards);
        if (args.Contains("--compare-page-cache")) return ComparePageCache(dir, precision, sequences, tokens, forwards);
        if (BenchArgs.Option(args, "--after-traffic") is { } gib) return AfterTraffic(model, sequences, tokens, forwards, int.Parse(gib));
        if (BenchArgs.Option(args, "--after-free") is { } freeGib) return AfterFree(model, sequences, tokens, forwards, int.Parse(freeGib), int.Parse(BenchArgs.Option(args, "--wait-ms") ?? "1500"));

        double forwardMs = 0;
        if (!gemmsOnly)
        {
            var batch = RandomBatch(c.VocabSize, sequences, tokens);
            var times = new List<double>();
            for (int i = 0; i < forwards; i++)
            {
                var sw = Stopwatch.StartNew();
                model.Forward(batch);
                times.Add(sw.Elapsed.TotalMilliseconds);
                // The runtime's compilations so far: tiered compilation keeps promoting methods until their 31st call.
                Console.WriteLine($"forward {i}: {times[^1]:F1} ms; methods compiled so far {System.Runtime.JitInfo.GetCompiledMethodCount()} ({System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds:F0} ms)");
            }
            forwardMs = times.Skip(1).DefaultIfEmpty(times[0]).Min();
            Console.WriteLine($"forward best (after the first): {forwardMs:F1} ms; weight matrices packed for the GEMM: {model.PackedWeightBytes / 1e6:F0} MB");
            Console.WriteLine($"checkpoint pages: {CheckpointPages(dir)}");
            Console.WriteLine($"GC: gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}, pauses {GC.GetTotalPauseDuration().TotalMilliseconds:F0} ms, allocated {GC.GetTotalAllocatedBytes() >> 20} MiB");
        }
        if (forwardOnly) return 0;

        // Each weight product as the forward multiplies it: one pass over every layer's own weight, so the weights
        // come from memory as they do in a forward (one layer's weight repeated would sit in L3 and time too fast).
        var w = model.Weights;
        var blocks = w.Blocks;
        (string Name, Func<int, Tensor?> W, int In, int Out, int Count)[] all =
        [
            ("W_Q", l => blocks[l].W_Q, c.DModel, c.Heads * c.DHead, c.Layers),
            ("W_K", l => blocks[l].W_K, c.DModel, c.KvHeads * c.DHead, c.Layers),
            ("W_V", l => blocks[l].W_V, c.DModel, c.KvHeads * c.DHead, c.Layers),
            ("W_O", l => blocks[l].W_O, c.Heads * c.DHead, c.DModel, c.Layers),
            ("W_gate", l => blocks[l].W_gate, c.DModel, c.DMlp, c.Layers),
            ("W_in (up)", l => blocks[l].W_in, c.DModel, c.DMlp, c.Layers),
            ("W_out (down)", l => blocks[l].W_out, c.DMlp, c.DModel, c.Layers),
            ("W_U", _ => w.W_U, c.DModel, c.VocabSize, 1),
        ];
        // GPT-2 and NeoX blocks have no gate projection.
        var products = all.Where(p => p.W(0) is not null).ToArray();
        int rows = sequences * tokens;
        var x = new float[rows * Math.Max(c.DMlp, c.Heads * c.DHead)];
        new SeededRandom(5).FillNormal(x, 1f);
        double totalGemm = 0, totalCpu = 0;
        Console.WriteLine($"{"product",-14} {"m×k×n",-20} {"ms each",9} {"× count",8} {"ms total",9} {"GFLOP/s",8} {"CPU ms",9}");
        foreach (var (name, weight, inDim, outDim, count) in products)
        {
            var ops = Enumerable.Range(0, count).Select(l =>
            {
                var tensor = weight(l)!;
                return (name == "W_O" ? MatrixOperand.OfOutput(tensor) : tensor.Rank == 3 ? MatrixOperand.OfHeads(tensor) : MatrixOperand.Of(tensor))
                    ?? throw new InvalidOperationException($"{name} is not a GEMM operand");
            }).ToArray();
            var y = new float[rows * outDim];
            // The model's packed copies, as its forward uses them (packed by the forward above, or here on first use).
            foreach (var op in ops) op.Multiply(x, inDim, rows, y, outDim, precision: precision, packs: model.Packs);
            double best = double.MaxValue, bestCpu = double.MaxValue;
            int reps = name == "W_U" ? 2 : 4;
            var self = Process.GetCurrentProcess();
            for (int r = 0; r < reps; r++)
            {
                self.Refresh();
                var cpu0 = self.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                foreach (var op in ops) op.Multiply(x, inDim, rows, y, outDim, precision: precision, packs: model.Packs);
                best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
                self.Refresh();
                bestCpu = Math.Min(bestCpu, (self.TotalProcessorTime - cpu0).TotalMilliseconds);
            }
            totalGemm += best;
            totalCpu += bestCpu;
            Console.WriteLine($"{name,-14} {$"{rows}×{inDim}×{outDim}",-20} {best / count,9:F2} {count,8} {best,9:F1} {2.0 * rows * inDim * outDim * count / best / 1e6,8:F1} {bestCpu,9:F1}");
        }
        Console.WriteLine($"weight products alone: {totalGemm:F1} ms (CPU time of all threads {totalCpu:F1} ms)" + (forwardMs > 0 ? $"; forward {forwardMs:F1} ms; the rest (attention, norms, rotary, activations, residual): {forwardMs - totalGemm:F1} ms" : ""));
        return 0;
    }

    private static int ComparePacking(string dir, Transformer packed, int sequences, int tokens, int pairs)
    {
        using var other = ModelLoader.Load(dir);
        var unpacked = other.Model;
        unpacked.Precision = packed.Precision;
        unpacked.PackedWeightBudgetBytes = 0;
        packed.PackedWeightBudgetBytes = Math.Max(packed.PackedWeightBudgetBytes, PackedWeights.DefaultBudgetBytes);
        var batch = RandomBatch(packed.Config.VocabSize, sequences, tokens);
        packed.Forward(batch);
        var first = packed.Forward(batch).ToArray(); // the second product of each weight packs it
        var reference = unpacked.Forward(batch).ToArray();
        if (!first.AsSpan().SequenceEqual(reference)) throw new InvalidOperationException("packed and unpacked forwards differ");
        Transformer[] sides = [packed, unpacked];
        string summary = AlternatingForwards(pairs, ["packed once", "packed per product"], side => sides[side].Forward(batch));
        // The weight products alone, each over all layers' own weights (so they come from memory as in a forward).
        int rows = sequences * tokens;
        var c = packed.Config;
        var x = new float[rows * Math.Max(c.DMlp, c.Heads * c.DHead)];
        new SeededRandom(5).FillNormal(x, 1f);
        foreach (var (name, weights, inDim, outDim) in new (string, Func<Transformer, Tensor?[]>, int, int)[]
        {
            ("W_in (up)", m => [.. m.Weights.Blocks.Select(b => b.W_in)], c.DModel, c.DMlp),
            ("W_out (down)", m => [.. m.Weights.Blocks.Select(b => b.W_out)], c.DMlp, c.DModel),
            ("W_U", m => [m.Weights.W_U], c.DModel, c.VocabSize),
        })
        {
            var y = new float[rows * outDim];
            var productRatios = new List<double>();
            var opsPacked = weights(packed).Select(t => MatrixOperand.Of(t!)!.Value).ToArray();
            var opsPlain = weights(unpacked).Select(t => MatrixOperand.Of(t!)!.Value).ToArray();
            for (int i = 0; i < pairs; i++)
            {
                var sw = Stopwatch.StartNew();
                foreach (var op in opsPacked) op.Multiply(x, inDim, rows, y, outDim, precision: packed.Precision, packs: packed.Packs);
                double a = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                foreach (var op in opsPlain) op.Multiply(x, inDim, rows, y, outDim, precision: unpacked.Precision);
                double b = sw.Elapsed.TotalMilliseconds;
                productRatios.Add(a / b);
            }
            Console.WriteLine($"{name} {rows}×{inDim}×{outDim} × {opsPacked.Length}: packed once / per product {BenchModel.Median(productRatios):F3} (range {productRatios.Min():F3}–{productRatios.Max():F3})");
        }

        Console.WriteLine($"{summary}; {packed.PackedWeightBytes / 1e6:F0} MB packed; logits identical");
        return 0;
    }

    /// <summary>
    /// --compare-few-rows: the forward with products of up to <see cref="GemmBlocking.DefaultFewRowsMaxRows"/> rows in
    /// the GEMM's few-rows order against the earlier limit (<see cref="GemmBlocking.Mc"/> rows), alternating in one process.
    /// </summary>
    private static int CompareFewRows(Transformer model, int sequences, int tokens, int pairs)
    {
        int[] limits = [GemmBlocking.DefaultFewRowsMaxRows, GemmBlocking.Mc];
        var batch = RandomBatch(model.Config.VocabSize, sequences, tokens);
        try
        {
            var logits = limits.Select(limit => { GemmBlocking.FewRowsMaxRows = limit; return model.Forward(batch).ToArray(); }).ToArray();
            if (!logits[0].AsSpan().SequenceEqual(logits[1])) throw new InvalidOperationException("the two GEMM orders gave different logits");
            Console.WriteLine(AlternatingForwards(pairs, [$"few rows up to {limits[0]} rows", $"up to {limits[1]} rows"], side =>
            {
                GemmBlocking.FewRowsMaxRows = limits[side];
                model.Forward(batch);
            }) + "; logits identical");
        }
        finally
        {
            GemmBlocking.FewRowsMaxRows = GemmBlocking.DefaultFewRowsMaxRows;
        }
        return 0;
    }

    /// <summary>
    /// How the mapped checkpoint files of <paramref name="dir"/> sit in memory now: resident, and in 2 MiB pages
    /// (<see cref="MappingResidency"/>). A checkpoint whose page cache holds small folios runs slower, so every
    /// timing that depends on it should say which case it got.
    /// </summary>
    public static string CheckpointPages(string dir)
    {
        var parts = WeightFiles(dir).Select(f => (Path: f, Pages: MappingResidency.OfFile(f)))
            .Where(p => p.Pages is not null).Select(p => $"{Path.GetFileName(p.Path)}: {p.Pages}{BenchModel.SmallPagesHint(p.Path, p.Pages!)}").ToList();
        return parts.Count > 0 ? string.Join("; ", parts) : "not mapped (or no /proc/self/smaps)";
    }

    private static IEnumerable<string> WeightFiles(string dir) =>
        Directory.EnumerateFiles(dir).Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || f.EndsWith(".bin", StringComparison.Ordinal)).Order(StringComparer.Ordinal);

    /// <summary>
    /// The same forward on two fresh copies of the checkpoint, alternating in one process. One copy is written through
    /// <see cref="AtomicFile"/> in 2 MiB chunks, so the page cache holds it in 2 MiB folios where the file system
    /// allows. The other is written 64 KiB at a time, as many tools write files, and is cached in small folios. Both
    /// are mapped the same way; only the page size under the weights differs. Logits must be identical.
    /// </summary>
    private static int ComparePageCache(string dir, ArithmeticPrecision precision, int sequences, int tokens, int pairs)
    {
        string root = Path.Combine(Path.GetTempPath(), $"headminer-bench-page-cache-{Environment.ProcessId}");
        string[] copies = [Path.Combine(root, "2mib-writes"), Path.Combine(root, "64kib-writes")];
        try
        {
            CopyCheckpoint(dir, copies[0], wholeChunks: true);
            CopyCheckpoint(dir, copies[1], wholeChunks: false);
            using var large = ModelLoader.Load(copies[0]);
            using var small = ModelLoader.Load(copies[1]);
            Transformer[] models = [large.Model, small.Model];
            foreach (var m in models) m.Precision = precision;
            var batch = RandomBatch(models[0].Config.VocabSize, sequences, tokens);
            var logits = models.Select(m => m.Forward(batch).ToArray()).ToArray();
            if (!logits[0].AsSpan().SequenceEqual(logits[1])) throw new InvalidOperationException("the two copies gave different logits");
            string[] names = ["2 MiB writes", "64 KiB writes"];
            for (int side = 0; side < 2; side++) Console.WriteLine($"{names[side]}: {CheckpointPages(copies[side])}");
            string summary = AlternatingForwards(pairs, names, side => models[side].Forward(batch));
            for (int side = 0; side < 2; side++) Console.WriteLine($"{names[side]}: {CheckpointPages(copies[side])}");
            Console.WriteLine(summary + "; logits identical");
            return 0;
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    private static void CopyCheckpoint(string from, string to, bool wholeChunks)
    {
        Directory.CreateDirectory(to);
        var weights = WeightFiles(from).ToHashSet(StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFiles(from))
        {
            string target = Path.Combine(to, Path.GetFileName(file));
            if (!weights.Contains(file))
            {
                File.Copy(file, target);
                continue;
            }
            using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            if (wholeChunks)
            {
                AtomicFile.Write(target, stream => source.CopyTo(stream, 1 << 16));
                continue;
            }
            using var plain = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
            var buffer = new byte[1 << 16];
            for (int n; (n = source.Read(buffer)) > 0;) plain.Write(buffer.AsSpan(0, n));
        }
    }

    /// <summary>
    /// Times <paramref name="forward"/>(0) and (1) once per pair, the first side alternating, so a slow spell does not
    /// always hit the same one; <paramref name="before"/>(side), when given, runs untimed just before each timed call.
    /// Prints each pair and returns the medians and the median ratio (side 0 / side 1).
    /// </summary>
    private static string AlternatingForwards(int pairs, string[] names, Action<int> forward, Action<int>? before = null)
    {
        var times = new[] { new List<double>(), new List<double>() };
        var ratios = new List<double>();
        for (int i = 0; i < pairs; i++)
        {
            foreach (int side in i % 2 == 0 ? new[] { 0, 1 } : [1, 0])
            {
                before?.Invoke(side);
                var sw = Stopwatch.StartNew();
                forward(side);
                times[side].Add(sw.Elapsed.TotalMilliseconds);
            }
            ratios.Add(times[0][^1] / times[1][^1]);
            Console.WriteLine($"pair {i}: {names[0]} {times[0][^1]:F1} ms, {names[1]} {times[1][^1]:F1} ms, ratio {ratios[^1]:F3}");
        }
        return $"median: {names[0]} {BenchModel.Median(times[0]):F1} ms, {names[1]} {BenchModel.Median(times[1]):F1} ms; "
            + $"ratio {BenchModel.Median(ratios):F3} (range {ratios.Min():F3}–{ratios.Max():F3})";
    }

    /// <summary>
    /// `--after-traffic GIB`: our forward timed right after the process has read <paramref name="gib"/> GiB of other
    /// memory (one byte per 64, not timed) and right after our own forward, in <paramref name="pairs"/> pairs. In the
    /// torch reference our forward runs after torch's, and there it took 10–30% longer than alone with no fault,
    /// collection or other thread to show for it (docs/PERFORMANCE.md). This tries to reproduce that without torch; on 3
    /// December 2026 it did not (0.99–1.00× at 5 GiB): reading memory costs nothing after; touching fresh memory and
    /// freeing it does (`--after-free`).
    /// </summary>
    private static int AfterTraffic(Transformer model, int sequences, int tokens, int pairs, int gib)
    {
        if (gib < 1)
        {
            Console.Error.WriteLine($"--after-traffic {gib}: expected at least 1 GiB");
            return 2;
        }
        var batch = RandomBatch(model.Config.VocabSize, sequences, tokens);
        var other = Enumerable.Range(0, gib * 4).Select(_ => new byte[256 << 20]).ToArray();
        foreach (var chunk in other) chunk.AsSpan().Fill(1);
        SteadyState(model, batch);
        long sum = 0;
        // Side 1 always follows a forward of ours: side 0's in the same pair, or the previous pair's last.
        Console.WriteLine(AlternatingForwards(pairs, [$"after {gib} GiB elsewhere", "after our forward"], _ => model.Forward(batch), side =>
        {
            if (side != 0) return;
            foreach (var chunk in other)
                for (int j = 0; j < chunk.Length; j += 64) sum += chunk[j];
        }));
        GC.KeepAlive(sum);
        return 0;
    }

    /// <summary>
    /// `--after-free GIB [--wait-ms MS]`: our forward timed after the process has touched <paramref name="gib"/> GiB of
    /// fresh memory, freed it and waited <paramref name="waitMs"/>, against after the same wait alone, in
    /// <paramref name="pairs"/> pairs. It reproduces without torch what slowed our forward after torch's: on this
    /// project's VM guests everything runs slower for seconds after a large allocation is touched and freed (3 December
    /// 2026: 1.15–1.20× at 1.5 s, 1.08× still at 4 s, on the Qwen3-1.7B shape in bf16), with no CPU used in the guest
    /// meanwhile, so the work is the host's. LibTorch's eager forward frees hundreds of MB each call (770–860 MB at
    /// GPT-2's 1×1024); the torch reference now times each contender after itself (Interleaved.Time).
    /// </summary>
    private static unsafe int AfterFree(Transformer model, int sequences, int tokens, int pairs, int gib, int waitMs)
    {
        if (gib < 1 || waitMs < 0)
        {
            Console.Error.WriteLine($"--after-free {gib} --wait-ms {waitMs}: expected at least 1 GiB and a wait of 0 ms or more");
            return 2;
        }
        var batch = RandomBatch(model.Config.VocabSize, sequences, tokens);
        SteadyState(model, batch);
        Console.WriteLine(AlternatingForwards(pairs, [$"after {gib} GiB touched, freed and {waitMs} ms", $"after {waitMs} ms"], _ => model.Forward(batch), side =>
        {
            if (side == 0)
            {
                nuint bytes = (nuint)gib << 30;
                byte* p = (byte*)NativeMemory.Alloc(bytes); // above glibc's mmap threshold: a fresh mapping, unmapped by Free
                for (nuint o = 0; o < bytes; o += 4096) p[o] = 1;
                NativeMemory.Free(p);
            }
            Thread.Sleep(waitMs);
        }));
        return 0;
    }

    /// <summary>
    /// Forwards past the 30-call threshold of tiered compilation, then a pause for the background compiler (see the
    /// torch reference's Interleaved.WarmUp), so the pairs that follow time optimised code only.
    /// </summary>
    private static void SteadyState(Transformer model, TokenBatch batch)
    {
        for (int i = 0; i < 35; i++) model.Forward(batch);
        Thread.Sleep(1000);
    }

    /// <summary>Seeded random tokens (ids below 50,257, so every vocabulary here has them), <paramref name="sequences"/> × <paramref name="tokens"/>.</summary>
    private static TokenBatch RandomBatch(int vocabSize, int sequences, int tokens)
    {
        var rng = new SeededRandom(43);
        return new TokenBatch([.. Enumerable.Range(0, sequences * tokens).Select(_ => rng.NextInt(Math.Min(vocabSize, 50257)))], sequences, tokens);
    }

}
