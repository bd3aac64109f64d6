using System.Diagnostics;
using HeadMiner.Analysis.Patching;
using HeadMiner.Bench;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace HeadMiner.TorchReference;

/// <summary>
/// `patching`: the z-patching sweep (layer × head × position of hook_z, denoising, logit difference) on the
/// GPT-2-small shape, 8 prompt pairs of 16 tokens: our sweep (ActivationPatching.Sweep: resume at the layer, reuse the
/// prefix, batch the patches) against LibTorch running the loop a PyTorch user writes (TransformerLens style: one
/// forward over all pairs per patch). Every torch patch costs the same, so a sample of cells is timed and the
/// per-patch time multiplied by the number of cells; the sampled cells' metric is compared with ours.
/// </summary>
public static class PatchingReference
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        const int pairs = 8, length = 16;
        int sample = quick ? 24 : 96, rounds = quick ? 1 : 3;
        string dir = BenchModel.Gpt2SmallDirectory();
        using var loaded = ModelLoader.Load(dir);
        using var torchModel = new TorchGpt2(dir);
        var model = loaded.Model;
        var rng = new SeededRandom(7);
        var clean = new int[pairs][];
        var corrupted = new int[pairs][];
        for (int i = 0; i < pairs; i++)
        {
            clean[i] = [.. Enumerable.Range(0, length).Select(_ => rng.NextInt(50257))];
            corrupted[i] = (int[])clean[i].Clone();
            corrupted[i][1] = rng.NextInt(50257);
        }
        int[] answers = [.. Enumerable.Range(0, pairs).Select(_ => rng.NextInt(50257))];
        int[] wrongs = [.. Enumerable.Range(0, pairs).Select(_ => rng.NextInt(50257))];
        var tokenized = new TokenizedPairs(clean, corrupted, answers, wrongs);
        var target = PatchTarget.Parse("z:pos");
        int layers = model.Config.Layers, heads = model.Config.Heads, cells = layers * heads * length;
        Console.WriteLine($"z-patching sweep, layer × head × position = {cells} cells; {pairs} pairs × {length} tokens; GPT-2-small shape; ours {WorkerPool.MaxThreads} threads, torch {torch.get_num_threads()}; torch times {sample} cells per round; {rounds} interleaved rounds");

        using var cleanIds = torch.tensor(clean.SelectMany(x => x).Select(i => (long)i).ToArray(), [pairs, length]);
        using var corruptedIds = torch.tensor(corrupted.SelectMany(x => x).Select(i => (long)i).ToArray(), [pairs, length]);
        using var answerIds = torch.tensor(answers.Select(i => (long)i).ToArray(), [pairs, 1]);
        using var wrongIds = torch.tensor(wrongs.Select(i => (long)i).ToArray(), [pairs, 1]);
        var allCells = (from l in Enumerable.Range(0, layers) from h in Enumerable.Range(0, heads) from p in Enumerable.Range(0, length) select (l, h, p)).ToArray();
        int step = Math.Max(1, cells / sample);
        var sampled = allCells.Where((_, i) => i % step == 0).Take(sample).ToArray();
        var donor = new List<Tensor>();
        var torchValues = new Dictionary<(int, int, int), double>();

        PatchingResult? ours = null;
        void Ours() => ours = ActivationPatching.Sweep(model, tokenized, target, MetricKind.LogitDiff);
        void Torch()
        {
            foreach (var cell in sampled)
            {
                using var scope = torch.NewDisposeScope();
                var logits = torchModel.ForwardPatched(corruptedIds, cell, donor, null);
                torchValues[cell] = (logits.gather(1, answerIds) - logits.gather(1, wrongIds)).mean().item<float>();
            }
        }
        double[][] t;
        using (torch.inference_mode())
        {
            torchModel.ForwardPatched(cleanIds, null, null, donor).Dispose();
            t = Interleaved.Time(rounds, Ours, Torch);
        }
        foreach (var d in donor) d.Dispose();
        var raw = ours!.Raw.Contiguous().ToArray();
        double maxDiff = sampled.Max(c => Math.Abs(raw[(c.l * heads + c.h) * length + c.p] - torchValues[c]));
        double oursSeconds = Interleaved.Median(t[0]) / 1000;
        double[] torchSweepSeconds = [.. t[1].Select(ms => ms / sampled.Length * cells / 1000)];
        double torchSeconds = Interleaved.Median(torchSweepSeconds);
        double[] ratios = [.. t[0].Zip(torchSweepSeconds, (o, s) => o / 1000 / s)];
        Console.WriteLine();
        Console.WriteLine("| sweep | seconds | ours / it |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| HeadMiner ActivationPatching.Sweep (all {cells} cells) | {oursSeconds:F2} | 1.00× |");
        Console.WriteLine($"| LibTorch {torch.__version__} naive loop ({sampled.Length} cells timed × {cells / (double)sampled.Length:F0}) | {torchSeconds:F1} | **{Interleaved.Median(ratios):F3}×** ({ratios.Min():F3}–{ratios.Max():F3}) |");
        Console.WriteLine();
        Console.WriteLine($"the {sampled.Length} sampled cells: max |ours − torch| logit difference = {maxDiff:G3}");
        return 0;
    }
}
