using HeadMiner.Analysis.Probing;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;
using HeadMiner.Tests.Models;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Analysis;

/// <summary>
/// Probing on a planted signal. A one-layer random model is edited so that the label reaches exactly one head:
/// the two label tokens' embeddings are e ± u, with u zero-mean and orthogonal to (e + W_pos[1]) centred, so the
/// first LayerNorm sees the same mean and variance and its outputs differ only along v = u ⊙ ln1.w / σ. v is then
/// projected out of every head's W_Q and W_K (no attention pattern depends on the label) and out of every W_V but
/// head <see cref="Target"/>'s. So only that head's hook_z carries the label; every other head's is independent of it.
/// </summary>
public class HeadProbingTests(ITestOutputHelper output)
{
    private const int Target = 2, TokenA = 10, TokenB = 11;

    internal static Transformer PlantedModel()
    {
        var c = TinyModels.Gpt2Like(layers: 1);
        var weights = RandomWeights.Create(c, 5, 0.3f, perturbNorms: true);
        int d = c.DModel;
        var wE = weights.W_E.Contiguous().Clone();
        var e = Enumerable.Range(0, d).Select(j => (double)wE[TokenA, j]).ToArray();
        var reference = e.Select((v, j) => v + weights.W_pos![1, j]).ToArray();
        var u = new double[d];
        var rng = new SeededRandom(9);
        for (int j = 0; j < d; j++) u[j] = rng.NextNormal();
        Orthogonalise(u, [.. Enumerable.Repeat(1.0, d)]);
        Orthogonalise(u, Centre(reference));
        Scale(u, 3.0);
        for (int j = 0; j < d; j++)
        {
            wE[TokenA, j] = (float)(e[j] + u[j]);
            wE[TokenB, j] = (float)(e[j] - u[j]);
        }
        weights.W_E = wE;
        weights.W_U = wE.Transpose(0, 1);
        var block = weights.Blocks[0];
        var v = u.Select((x, j) => x * block.Ln1Weight![j]).ToArray();
        block.W_Q = ProjectOut(block.W_Q, v, keepHead: -1);
        block.W_K = ProjectOut(block.W_K, v, keepHead: -1);
        block.W_V = ProjectOut(block.W_V, v, keepHead: Target);
        return new Transformer(c, weights, "planted");
    }

    private static double[] Centre(double[] x) => x.Select(v => v - x.Average()).ToArray();

    private static void Scale(double[] x, double length)
    {
        double norm = Math.Sqrt(x.Sum(v => v * v));
        for (int j = 0; j < x.Length; j++) x[j] *= length / norm;
    }

    private static void Orthogonalise(double[] x, double[] against)
    {
        double dot = x.Zip(against).Sum(p => p.First * p.Second), norm = against.Sum(a => a * a);
        for (int j = 0; j < x.Length; j++) x[j] -= dot / norm * against[j];
    }

    /// <summary>Every head's [d_model, d_head] matrix loses its component along v (except head <paramref name="keepHead"/>).</summary>
    private static Tensor ProjectOut(Tensor w, double[] v, int keepHead)
    {
        var result = w.Contiguous().Clone();
        double vv = v.Sum(x => x * x);
        for (int h = 0; h < w.Dim(0); h++)
        {
            if (h == keepHead) continue;
            for (int k = 0; k < w.Dim(2); k++)
            {
                double dot = 0;
                for (int j = 0; j < w.Dim(1); j++) dot += v[j] * result[h, j, k];
                for (int j = 0; j < w.Dim(1); j++) result[h, j, k] -= (float)(dot / vv * v[j]);
            }
        }
        return result;
    }

    /// <summary>Prompts [1, label token, two random distractors, 5, 6, 7]; labels alternate (balanced).</summary>
    internal static (int[][] Prompts, int[] Labels) Prompts(int count, ulong seed)
    {
        var rng = new SeededRandom(seed);
        var prompts = new int[count][];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = i % 2;
            prompts[i] = [1, labels[i] == 1 ? TokenA : TokenB, rng.NextInt(20, 60), rng.NextInt(20, 60), 5, 6, 7];
        }
        return (prompts, labels);
    }

    [Fact]
    public void OnlyTheHeadThatCarriesThePlantedLabelIsDecodable()
    {
        using var model = PlantedModel();
        var (prompts, labels) = Prompts(401, 3);
        var result = HeadProbing.Run(model, prompts, labels, new ProbeOptions { Seed = 4 });
        Assert.Equal(120, result.ValidationCount);
        Assert.Equal(281, result.TrainCount);
        for (int h = 0; h < model.Config.Heads; h++)
            output.WriteLine($"head 0.{h}: validation {result.ValidationAccuracy[0, h]:F3}, training {result.TrainAccuracy[0, h]:F3}, σ along direction {result.DirectionStd[0, h]:F4}");
        Assert.True(result.ValidationAccuracy[0, Target] >= 0.95, $"target head validation accuracy {result.ValidationAccuracy[0, Target]}");
        // The other heads' features are independent of the label: accuracy on 120 balanced held-out examples is
        // chance ± sampling noise (σ ≈ 0.046), bounded here at 0.5 ± 0.15 (over 3σ).
        for (int h = 0; h < model.Config.Heads; h++)
            if (h != Target) Assert.InRange(result.ValidationAccuracy[0, h], 0.35f, 0.65f);
        // The direction is a unit vector.
        var u = result.Directions.Select(0, 0).Select(0, Target).ToArray();
        Assert.Equal(1.0, Math.Sqrt(u.Sum(x => (double)x * x)), 1e-5);
    }

    [Fact]
    public void SteeringAlongTheProbeDirectionMovesTheCorruptedMetricTowardsClean()
    {
        using var model = PlantedModel();
        var (prompts, labels) = Prompts(200, 5);
        var probes = HeadProbing.Run(model, prompts, labels);
        // Pairs: the label-1 prompt (clean) against the same prompt with the label-0 token (corrupted).
        var (test, _) = Prompts(16, 6);
        var clean = test.Where((_, i) => i % 2 == 1).ToArray();
        var corrupted = clean.Select(p => p.Select((t, j) => j == 1 ? TokenB : t).ToArray()).ToArray();
        var pairs = new TokenizedPairs(clean, corrupted, [.. clean.Select(_ => 30)], [.. clean.Select(_ => 31)]);
        // KL(clean ‖ run) at the last position: 0 for the clean run; the label reaches the logits only through the target head.
        var effects = new[] { -2.0, 1.0, 2.0 }.Select(alpha => ProbeSteering.Measure(model, pairs, MetricKind.KlDivergence, probes, 0, Target, alpha)).ToArray();
        foreach (var e in effects)
            output.WriteLine($"α {e.Alpha}: clean {e.CleanBefore:E3} → {e.CleanAfter:E3}, corrupted {e.CorruptedBefore:E3} → {e.CorruptedAfter:E3}");
        double before = effects[0].CorruptedBefore;
        Assert.True(before > 1e-4, $"the label changes the output too little to measure steering (KL {before})");
        Assert.True(effects[0].CorruptedAfter > 2 * before, "steering against the direction should move corrupted further from clean");
        Assert.True(effects[1].CorruptedAfter < 0.5 * before, "one σ along the direction should bring corrupted towards clean");
        Assert.True(effects[2].CorruptedAfter < 0.5 * before, "two σ along the direction should bring corrupted towards clean");
        Assert.All(effects, e => Assert.Equal(0, e.CleanBefore, 1e-9));
        Assert.All(effects, e => Assert.True(e.CleanAfter > 0));
    }
}
