using HeadMiner.Bench;
using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace HeadMiner.TorchReference;

/// <summary>
/// `forward`: our forward against LibTorch's on the same weights, same tokens, in this process. GPT-2-small shape
/// (float32 checkpoint) at 1×128, 1×512, 8×128 and 1×1024 against eager and SDPA attention; the Llama-3.2-1B shape
/// (BF16 checkpoint, <see cref="ScaleCheckpoints"/>) at 1×128 against torch in float32 (eager, SDPA) and torch
/// computing in bfloat16 (eager, SDPA). Logits for every position; the largest |ours − torch| is printed for each.
/// </summary>
public static class ForwardReference
{
    /// <summary>--check-only: compare the logits, time nothing (a correctness run on a machine too busy to time).</summary>
    private static bool s_checkOnly;

    /// <summary>
    /// Each timed forward right after an untimed one of the same contender (<see cref="Interleaved.Time(int, bool, Action[])"/>);
    /// `--plain-turns` times each right after the previous contender's instead, as this benchmark did until 3 December 2026.
    /// </summary>
    private static bool s_afterItself = true;

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        s_checkOnly = args.Contains("--check-only");
        s_afterItself = !args.Contains("--plain-turns");
        Console.WriteLine(s_afterItself
            ? "each timed forward follows an untimed one of the same contender (--plain-turns: after the previous contender's)"
            : "plain turns: each timed forward follows the previous contender's");
        string? llamaDir = BenchArgs.Option(args, "--llama-dir");
        if (args.Contains("--llama-dir") && LlamaDirProblem(llamaDir) is { } problem)
        {
            Console.Error.WriteLine($"--llama-dir {llamaDir ?? "(no folder given)"}: {problem}");
            return 2;
        }
        bool gpt2 = !args.Contains("--llama-only"), llama = !args.Contains("--gpt2-only");
        if (gpt2) RunGpt2(quick ? 3 : 9);
        if (llama) RunLlama(quick ? 3 : 7, llamaDir);
        return 0;
    }

    /// <summary>Why <paramref name="dir"/> cannot be compared (<see cref="TorchLlama"/> computes Llama and Qwen3 only), or null.</summary>
    private static string? LlamaDirProblem(string? dir)
    {
        string? config = dir is null ? null : Path.Combine(dir, "config.json");
        if (config is null || !File.Exists(config) || !File.Exists(Path.Combine(dir!, "model.safetensors")))
            return "expected a checkpoint folder with config.json and model.safetensors";
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(config));
            string? type = json.RootElement.TryGetProperty("model_type", out var t) ? t.GetString() : null;
            return type is "llama" or "qwen3" ? null : $"model_type {type ?? "(none)"}: the torch side computes llama and qwen3 only";
        }
        catch (System.Text.Json.JsonException e)
        {
            return $"config.json is not valid JSON ({e.Message})";
        }
    }

    private static TokenBatch RandomTokens(int batch, int length, int vocab, ulong seed)
    {
        var rng = new SeededRandom(seed);
        return new TokenBatch([.. Enumerable.Range(0, batch * length).Select(_ => rng.NextInt(vocab))], batch, length);
    }

    private static Tensor Ids(TokenBatch batch) => torch.tensor(batch.Ids.Select(i => (long)i).ToArray(), [batch.Batch, batch.Length]);

    /// <summary>max |ours − torch| over every logit.</summary>
    private static double MaxAbsDiff(HeadMiner.Tensors.Tensor ours, torch.Tensor theirs)
    {
        using var t32 = theirs.to(ScalarType.Float32).contiguous();
        using var o = torch.tensor(ours.Contiguous().ToArray(), t32.shape);
        using var d = (o - t32).abs().max();
        return d.item<float>();
    }

    /// <summary>One timed torch forward under a dispose scope, so every intermediate tensor is freed at once.</summary>
    private static Action TorchCall(Func<Tensor> forward) => () =>
    {
        using var scope = torch.NewDisposeScope();
        forward();
    };

    /// <summary>
    /// The process's anonymous memory and the part of it on 2 MiB pages (/proc/self/smaps_rollup), read while the torch
    /// model holds its weights: torch's copies of them are anonymous memory, which LibTorch puts on huge pages only with
    /// THP_MEM_ALLOC_ENABLE=1 (run.sh --torch-huge-pages) where THP is in "madvise" mode. Printed because torch's forward
    /// time moves by up to 2× from one process to the next (PERFORMANCE.md), and its pages were a suspect; with the
    /// switch it was not faster.
    /// </summary>
    private static string AnonymousPages()
    {
        const string path = "/proc/self/smaps_rollup";
        if (!File.Exists(path)) return "anonymous memory: no /proc/self/smaps_rollup";
        long anonymous = 0, huge = 0;
        foreach (string line in File.ReadLines(path))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || !long.TryParse(parts[1], out long kib)) continue;
            if (parts[0] == "Anonymous:") anonymous = kib;
            else if (parts[0] == "AnonHugePages:") huge = kib;
        }
        return $"anonymous memory (torch's weights, both sides' activations): {anonymous >> 10} MiB, {huge >> 10} MiB of it in 2 MiB pages";
    }

    // The page size under our mapped weights moves our forward's time (AlignedChunkStream, docs/PERFORMANCE.md), so the
    // run says which case it got. Torch's copy of the weights is anonymous memory (AnonymousPages).
    private static string OurCheckpointPages(string dir)
    {
        string path = Path.Combine(dir, "model.safetensors");
        var pages = MappingResidency.OfFile(path);
        return pages is null ? "our mapped checkpoint: no /proc/self/smaps" : $"our mapped checkpoint: {pages}{BenchModel.SmallPagesHint(path, pages)}";
    }

    /// <summary>
    /// Our forward 32 times on the first shape to be timed, so every method it calls once per forward has passed .NET's
    /// 30-call threshold and been compiled optimised (<see cref="Interleaved.WarmUp"/>). Torch's kernels are native and
    /// its managed wrappers are called hundreds of times per forward: its warm-up round in <see cref="Interleaved.Time"/>
    /// is enough, and the compilations printed after each shape show whether anything was still being compiled.
    /// </summary>
    private static void WarmUp(Transformer ours, TokenBatch firstShape) => Interleaved.WarmUp(32, () => ours.Forward(firstShape));

    private static string Compilations()
    {
        var (methods, ms) = Interleaved.LastTimedCompilations;
        return $"  (methods compiled by the runtime during the timed rounds: {methods}, {ms:F0} ms of compiler time)";
    }

    private static void RunGpt2(int rounds)
    {
        string dir = BenchModel.Gpt2SmallDirectory();
        Console.WriteLine($"GPT-2-small shape, float32 random weights: {dir}; {rounds} interleaved rounds per shape (ours, torch eager, torch SDPA)");
        using var loaded = ModelLoader.Load(dir);
        using var torchModel = new TorchGpt2(dir);
        if (!s_checkOnly) WarmUp(loaded.Model, RandomTokens(1, 128, torchModel.Vocab, 42));
        var rows = new List<string>();
        foreach (var (b, l) in new[] { (1, 128), (1, 512), (8, 128), (1, 1024) })
        {
            var batch = RandomTokens(b, l, torchModel.Vocab, 42);
            using var ids = Ids(batch);
            double eagerDiff, sdpaDiff;
            using (torch.inference_mode())
            using (var scope = torch.NewDisposeScope())
            {
                var ours = loaded.Model.Forward(batch);
                eagerDiff = MaxAbsDiff(ours, torchModel.Forward(ids, TorchAttention.Eager));
                sdpaDiff = MaxAbsDiff(ours, torchModel.Forward(ids, TorchAttention.Sdpa));
            }
            if (s_checkOnly)
            {
                Console.WriteLine($"{b}×{l}: max |Δ logit| eager {eagerDiff:G2}, SDPA {sdpaDiff:G2}");
                continue;
            }
            double[][] t;
            using (torch.inference_mode())
                t = Interleaved.Time(rounds, s_afterItself, () => loaded.Model.Forward(batch), TorchCall(() => torchModel.Forward(ids, TorchAttention.Eager)), TorchCall(() => torchModel.Forward(ids, TorchAttention.Sdpa)));
            Console.WriteLine(Compilations());
            rows.Add($"| {b}×{l} | {Interleaved.Median(t[0]):F1} | {Interleaved.Median(t[1]):F1} | {Interleaved.Median(t[2]):F1} | **{Interleaved.MedianRatio(t[0], t[1]):F2}×** ({Interleaved.RatioRange(t[0], t[1])}) | **{Interleaved.MedianRatio(t[0], t[2]):F2}×** ({Interleaved.RatioRange(t[0], t[2])}) | {eagerDiff:G2} / {sdpaDiff:G2} |");
            Console.WriteLine(rows[^1]);
        }
        Console.WriteLine();
        Console.WriteLine(OurCheckpointPages(dir));
        Console.WriteLine(AnonymousPages());
        Console.WriteLine("| shape | ours ms | torch eager ms | torch SDPA ms | ours / eager (range) | ours / SDPA (range) | max \\|Δ logit\\| eager / SDPA |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows) Console.WriteLine(row);
        Console.WriteLine();
    }

    /// <summary>
    /// The Llama-family rows: the bench's Llama-3.2-1B shape, or <paramref name="otherDir"/> (`--llama-dir DIR`), any
    /// Llama or Qwen3 checkpoint folder that <see cref="TorchLlama"/> computes (e.g. `tools/bench/make_random_llama_1b.py
    /// DIR --shape qwen3-1.7b`).
    /// </summary>
    private static void RunLlama(int rounds, string? otherDir)
    {
        string dir = otherDir ?? ScaleCheckpoints.Directory(ScaleCheckpoints.Llama1B);
        using var loaded = ModelLoader.Load(dir);
        var c = loaded.Model.Config;
        Console.WriteLine($"{(otherDir is null ? "Llama-3.2-1B shape, BF16 random weights" : "Llama-family checkpoint")}: {dir} ({c.Layers} layers, d {c.DModel}, heads {c.Heads}/{c.KvHeads} of {c.DHead}, d_mlp {c.DMlp}, vocab {c.VocabSize}); 1×128; {rounds} interleaved rounds per precision");
        var batch = RandomTokens(1, 128, 50257, 43);
        using var ids = Ids(batch);
        var rows = new List<string>();
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            // Each side in the same arithmetic: ours in bf16 (--precision bf16) against torch bfloat16.
            loaded.Model.Precision = dtype == ScalarType.Float32 ? ArithmeticPrecision.Fp32 : ArithmeticPrecision.Bf16;
            if (!s_checkOnly) WarmUp(loaded.Model, batch);
            var ours = loaded.Model.Forward(batch);
            // One torch copy at a time: float32 (5 GB) and bfloat16 (2.5 GB) next to ours would not fit a 24 GB machine.
            using var torchModel = new TorchLlama(dir, dtype);
            double eagerDiff, sdpaDiff;
            using (torch.inference_mode())
            using (var scope = torch.NewDisposeScope())
            {
                eagerDiff = MaxAbsDiff(ours, torchModel.Forward(ids, TorchAttention.Eager));
                sdpaDiff = MaxAbsDiff(ours, torchModel.Forward(ids, TorchAttention.Sdpa));
            }
            string name = dtype == ScalarType.Float32 ? "float32" : "bfloat16";
            if (s_checkOnly)
            {
                Console.WriteLine($"torch {name}: max |Δ logit| eager {eagerDiff:G2}, SDPA {sdpaDiff:G2}");
                continue;
            }
            double[][] t;
            using (torch.inference_mode())
                t = Interleaved.Time(rounds, s_afterItself, () => loaded.Model.Forward(batch), TorchCall(() => torchModel.Forward(ids, TorchAttention.Eager)), TorchCall(() => torchModel.Forward(ids, TorchAttention.Sdpa)));
            Console.WriteLine(Compilations());
            Console.WriteLine($"  {AnonymousPages()}");
            rows.Add($"| {name} | {Interleaved.Median(t[0]):F0} | {Interleaved.Median(t[1]):F0} | {Interleaved.Median(t[2]):F0} | **{Interleaved.MedianRatio(t[0], t[1]):F2}×** ({Interleaved.RatioRange(t[0], t[1])}) | **{Interleaved.MedianRatio(t[0], t[2]):F2}×** ({Interleaved.RatioRange(t[0], t[2])}) | {eagerDiff:G2} / {sdpaDiff:G2} |");
            Console.WriteLine(rows[^1]);
        }
        Console.WriteLine();
        loaded.Model.Precision = ArithmeticPrecision.Fp32;
        Console.WriteLine($"ours: {loaded.Model.Processing}; float32 arithmetic against torch float32, bf16 arithmetic ({GemmBf16.Implementation}, --precision bf16) against torch bfloat16. Logit differences against torch bfloat16 are bf16 rounding (the two round different sums), not errors.");
        Console.WriteLine(OurCheckpointPages(dir));
        Console.WriteLine("| torch precision | ours ms | torch eager ms | torch SDPA ms | ours / eager (range) | ours / SDPA (range) | max \\|Δ logit\\| eager / SDPA |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows) Console.WriteLine(row);
        Console.WriteLine();
    }
}
