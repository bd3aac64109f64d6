using System.Diagnostics;
using HeadMiner.Models;
using HeadMiner.Models.Formats;
using HeadMiner.Tasks.Synthetic;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Autodiff;
using HeadMiner.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HeadMiner.TorchReference;

/// <summary>
/// `train`: one training step (zero gradients, loss, backward, global-norm clipping, AdamW at the warm-up + cosine
/// rate) of our <see cref="Gpt2TrainingModel"/> against LibTorch's autograd and torch.optim.AdamW on the same
/// initial weights (exported and read back) and the same token batches, steps interleaved one for one. Shape: the
/// planned embedded model (docs/EMBEDDED-MODEL.md: GPT-2 architecture, 3 layers × 4 heads, d_model 128, d_mlp 512,
/// the toy language's vocabulary, 16 × 128 tokens per step). The first losses must agree before a ratio is believed.
/// </summary>
public static class TrainReference
{
    private const double LossTolerance = 1e-4;

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int warmup = quick ? 3 : 10, timed = quick ? 5 : 30;
        var toy = new ToyLanguage();
        const int d = 128, layers = 3, heads = 4, b = 16, t = 128;
        var config = new ModelConfig
        {
            Architecture = "gpt2",
            VocabSize = toy.VocabularySize,
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = heads,
            DHead = d / heads,
            DMlp = 512,
            ContextLength = 256,
            Norm = NormKind.LayerNorm,
            NormEps = 1e-5f,
            Activation = MlpActivation.GeluTanh,
            LearnedPositions = true,
            AttentionScale = 1f / MathF.Sqrt(d / heads),
            AttentionWindow = new int[layers],
            TiedEmbeddings = true,
            BosTokenId = ToyVocabulary.Bos,
        };
        var options = new TrainingOptions { BatchSequences = b, SequenceLength = t };
        var model = new Gpt2TrainingModel(config, options.Seed);
        string dir = Path.Combine(Path.GetTempPath(), $"headminer-torchref-train-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var (tensors, configJson) = model.Export();
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors);
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), configJson);
        using var theirs = new TorchGpt2(dir, trainable: true);
        Directory.Delete(dir, recursive: true);

        int total = warmup + timed;
        var inputs = new int[total][];
        var targets = new int[total][];
        for (int step = 0; step < total; step++)
        {
            var sequences = toy.Generate(b, t + 1, options.Seed * 0x9E3779B97F4A7C15UL + (ulong)step).Tokens;
            inputs[step] = new int[b * t];
            targets[step] = new int[b * t];
            for (int s = 0; s < b; s++)
            {
                sequences[s].AsSpan(0, t).CopyTo(inputs[step].AsSpan(s * t, t));
                sequences[s].AsSpan(1, t).CopyTo(targets[step].AsSpan(s * t, t));
            }
        }

        var optimizer = new HeadMiner.Training.AdamW(model.TrainableParameters(), weightDecay: options.WeightDecay);
        var schedule = new LearningRateSchedule(options.PeakLearningRate, options.WarmupSteps, options.Steps, options.MinLearningRateRatio);
        var arena = new TensorArena();
        var groups = theirs.Parameters().GroupBy(p => p.Decay).Select(g => new TorchSharp.Modules.AdamW.ParamGroup(
            g.Select(p => (Parameter)p.Tensor), new TorchSharp.Modules.AdamW.Options { weight_decay = g.Key ? options.WeightDecay : 0.0, LearningRate = options.PeakLearningRate })).ToList();
        var torchOptimizer = torch.optim.AdamW(groups, lr: options.PeakLearningRate, beta1: 0.9, beta2: 0.999, eps: 1e-8);
        var torchParameters = theirs.Parameters().Select(p => (Parameter)p.Tensor).ToList();
        long torchDecayed = theirs.Parameters().Where(p => p.Decay).Sum(p => p.Tensor.numel());
        long oursDecayed = optimizer.Parameters.Where(p => p.Decay).Sum(p => (long)p.Value.Length);

        var oursLosses = new float[total];
        var torchLosses = new float[total];
        var oursMs = new List<double>();
        var torchMs = new List<double>();
        for (int step = 0; step < total; step++)
        {
            double lr = schedule.At(step);
            long t0 = Stopwatch.GetTimestamp();
            model.ZeroGradients();
            arena.Reset();
            var tape = new Tape(arena);
            var loss = model.Loss(tape, inputs[step], b, t, targets[step]);
            tape.Backward(loss);
            double norm = GradientClipping.ClipGlobalNorm(optimizer.Parameters, options.ClipNorm);
            if (double.IsFinite(norm)) optimizer.Step(lr);
            double ours = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            oursLosses[step] = loss.Value.Span[0];

            long t1 = Stopwatch.GetTimestamp();
            using (var scope = torch.NewDisposeScope())
            {
                torchOptimizer.zero_grad();
                var ids = torch.tensor(inputs[step].Select(i => (long)i).ToArray(), [b, t]);
                var y = torch.tensor(targets[step].Select(i => (long)i).ToArray(), [b, t]);
                var torchLoss = theirs.Loss(ids, y);
                torchLoss.backward();
                double torchNorm = torch.nn.utils.clip_grad_norm_(torchParameters, options.ClipNorm);
                foreach (var g in torchOptimizer.ParamGroups) g.LearningRate = lr;
                if (double.IsFinite(torchNorm)) torchOptimizer.step();
                torchLosses[step] = torchLoss.item<float>();
            }
            double theirsMs = Stopwatch.GetElapsedTime(t1).TotalMilliseconds;
            if (step < warmup) continue;
            oursMs.Add(ours);
            torchMs.Add(theirsMs);
        }
        double firstDiff = Enumerable.Range(0, 3).Max(i => Math.Abs(oursLosses[i] - torchLosses[i]));
        double allDiff = Enumerable.Range(0, total).Max(i => Math.Abs(oursLosses[i] - torchLosses[i]));
        bool agreed = firstDiff <= LossTolerance && oursDecayed == torchDecayed && model.ParameterCount == torchParameters.Sum(p => p.numel());
        double[] ratios = [.. oursMs.Zip(torchMs, (o, x) => o / x)];
        Console.WriteLine($"training step, embedded shape ({layers} layers × {heads} heads, d_model {d}, vocabulary {toy.VocabularySize}, {b} × {t} tokens); ours {WorkerPool.MaxThreads} threads, torch {torch.get_num_threads()}; {warmup} warm-up + {timed} timed steps, interleaved");
        Console.WriteLine($"first 3 losses: ours {string.Join(", ", oursLosses.Take(3).Select(l => l.ToString("F6")))}; torch {string.Join(", ", torchLosses.Take(3).Select(l => l.ToString("F6")))}; max |Δ| {firstDiff:E2} ({(firstDiff <= LossTolerance ? "agree" : "DISAGREE")}, tolerance {LossTolerance:G}); all {total} steps max |Δ| {allDiff:E2} (rounding compounds)");
        Console.WriteLine($"parameters {model.ParameterCount:N0} / {torchParameters.Sum(p => p.numel()):N0}, weight-decayed {oursDecayed:N0} / {torchDecayed:N0}");
        Console.WriteLine();
        Console.WriteLine("| step | ours ms | torch ms | ours tok/s | torch tok/s | ours / torch time (range) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        double om = Interleaved.Median(oursMs), tm = Interleaved.Median(torchMs);
        string ratio = agreed ? $"**{Interleaved.Median(ratios):F2}×** ({ratios.Min():F2}–{ratios.Max():F2})" : "(losses or parameter groups disagree)";
        Console.WriteLine($"| zero grad + loss + backward + clip + AdamW | {om:F1} | {tm:F1} | {b * t / om * 1000:F0} | {b * t / tm * 1000:F0} | {ratio} |");
        return agreed ? 0 : 1;
    }
}
