using HeadMiner.Models;
using HeadMiner.Models.Architectures;
using HeadMiner.Tasks.Synthetic;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Autodiff;
using HeadMiner.Tensors.Kernels;
using HeadMiner.Training;

namespace HeadMiner.Tests.Training;

public class Gpt2TrainingModelTests
{
    private static ModelConfig Config() => new()
    {
        Architecture = "gpt2",
        VocabSize = 41,
        DModel = 24,
        Layers = 2,
        Heads = 3,
        KvHeads = 3,
        DHead = 8,
        DMlp = 52,
        ContextLength = 32,
        Norm = NormKind.LayerNorm,
        NormEps = 1e-5f,
        Activation = MlpActivation.GeluTanh,
        LearnedPositions = true,
        AttentionScale = 1f / MathF.Sqrt(8),
        AttentionWindow = new int[2],
        TiedEmbeddings = true,
    };

    private static (int[] Ids, int[] Targets) Batch(int sequences, int length, ulong seed)
    {
        var data = new RepeatedSegments(length / 2, 1, 40).Generate(sequences, length + 1, seed);
        var ids = new int[sequences * length];
        var targets = new int[sequences * length];
        for (int s = 0; s < sequences; s++)
            for (int t = 0; t < length; t++)
            {
                ids[s * length + t] = data.Tokens[s][t];
                targets[s * length + t] = data.Tokens[s][t + 1];
            }
        return (ids, targets);
    }

    [Fact]
    public void TheTrainingGraphsLossEqualsTheInferenceModelsCrossEntropy()
    {
        // Two independent code paths over the same tensors: the autodiff graph and Transformer.Forward.
        var model = new Gpt2TrainingModel(Config(), seed: 3);
        var (ids, targets) = Batch(3, 11, 5);
        var loss = model.Loss(new Tape(), ids, 3, 11, targets).Value.Span[0];
        using var inference = model.ToTransformer();
        var logits = inference.Forward(new TokenBatch(ids, 3, 11)).ToArray();
        double expected = CrossEntropy.MeanLoss(logits, ids.Length, Config().VocabSize, targets);
        Assert.Equal(expected, loss, 1e-4);
    }

    [Fact]
    public void ExportedCheckpointReloadsWithTheSameLogits()
    {
        var model = new Gpt2TrainingModel(Config(), seed: 4);
        var (tensors, configJson) = model.Export();
        var hf = HfConfig.Parse(configJson);
        var arch = ArchitectureRegistry.For(hf.ModelType, "config.json");
        var parsed = arch.ParseConfig(hf);
        var reader = new WeightReader(new InMemoryWeights("export", tensors), false, [.. arch.Prefixes]);
        using var reloaded = new Transformer(parsed, arch.LoadWeights(parsed, reader), "reloaded");
        using var live = model.ToTransformer();
        var tokens = Enumerable.Range(0, 13).Select(i => (i * 7) % 41).ToArray();
        Assert.Equal(live.Forward(tokens).ToArray(), reloaded.Forward(tokens).ToArray());
    }

    [Fact]
    public void AdamWOnTheGraphLearnsAFixedBatch()
    {
        var model = new Gpt2TrainingModel(Config(), seed: 5);
        var optimizer = new AdamW(model.TrainableParameters(), weightDecay: 0.01);
        var schedule = new LearningRateSchedule(3e-3, warmupSteps: 10, totalSteps: 120, minRatio: 0.1);
        var (ids, targets) = Batch(4, 16, 6);
        float first = 0, last = 0;
        for (int step = 0; step < 120; step++)
        {
            model.ZeroGradients();
            var tape = new Tape();
            var loss = model.Loss(tape, ids, 4, 16, targets);
            tape.Backward(loss);
            GradientClipping.ClipGlobalNorm(optimizer.Parameters, 1.0);
            optimizer.Step(schedule.At(step));
            if (step == 0) first = loss.Value.Span[0];
            last = loss.Value.Span[0];
        }
        Assert.True(first > 3f, $"initial loss {first} should be near ln(41) = 3.7");
        Assert.True(last < 0.5f * first, $"loss went from {first} to {last} in 120 steps");
        // The live inference model sees the trained weights (views, not copies).
        using var inference = model.ToTransformer();
        var logits = inference.Forward(new TokenBatch(ids, 4, 16)).ToArray();
        Assert.True(CrossEntropy.MeanLoss(logits, ids.Length, 41, targets) < 0.5 * first);
    }

    [Fact]
    public void NonGpt2ConfigsAreRefused()
    {
        var e = Assert.Throws<HeadMinerException>(() => new Gpt2TrainingModel(Config() with { Norm = NormKind.RmsNorm }, 1));
        Assert.Contains("GPT-2-shaped", e.Message);
    }
}
