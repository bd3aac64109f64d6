using HeadMiner.Analysis.Detectors;
using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks;
using HeadMiner.Tests.Models;
using HeadMiner.Tests.Tokenizers;

namespace HeadMiner.Tests.Analysis.Detectors;

/// <summary>
/// The task-based detectors on a small random-weight GPT-2-shaped model with the real GPT-2 tokenizer (all 50257 ids:
/// the unembedding is 64 × 50257, cheap at these prompt counts), their skip reasons on models whose tokenizer cannot
/// build the task sets, and a planted negative head for the Negative Attention Score.
/// </summary>
public class TaskDetectorTests
{
    public static readonly string[] TaskIds =
    [
        "name_mover", "negative_name_mover", "s_inhibition", "retrieval", "successor",
        "constant_mcqa", "single_letter_mcqa", "correct_letter_mcqa", "negative_nas", "greater_than", "letter_mover",
    ];

    private static readonly Lazy<ITokenizer> Gpt2 = new(() => TokenizerLoader.Load(TokenizerTestFiles.Gpt2Directory));

    private static ModelConfig Config => TinyModels.Gpt2Like(layers: 2) with
    {
        VocabSize = 50257,
        DModel = 64,
        Heads = 4,
        KvHeads = 4,
        DHead = 16,
        DMlp = 96,
        ContextLength = 160,
        AttentionScale = 0.25f,
    };

    private static readonly DetectorOptions Options = new() { Prompts = 8, Seed = 3 };

    private static Transformer Model(Action<TransformerWeights>? plant = null)
    {
        var weights = RandomWeights.Create(Config, 11, 0.1f, perturbNorms: true);
        plant?.Invoke(weights);
        return new Transformer(Config, weights, "random-gpt2-shaped");
    }

    private static readonly Lazy<Transformer> Random = new(() => Model());

    [Fact]
    public void EveryTaskDetectorIsRegisteredAsATaskWithACausalMetric()
    {
        foreach (var id in TaskIds)
        {
            var detector = DetectorRegistry.Get(id);
            Assert.Equal(DetectorKind.Task, detector.Kind);
            Assert.IsAssignableFrom<ICausalDetector>(detector);
        }
        // The catalog fixes the detector ids: the registry now implements every one of them.
        Assert.Equal(HeadMiner.Analysis.Catalog.HeadCatalog.DetectorIds, DetectorRegistry.Ids.ToArray());
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void RunsOnARandomGpt2ShapedModelWithFiniteScoresAndAnEvaluatingMetric(string id)
    {
        var context = new DetectorContext(Random.Value, Gpt2.Value, Options);
        var detector = DetectorRegistry.Get(id);
        Assert.Null(detector.CannotRun(context));
        var result = detector.Run(context);
        Assert.Equal(id, result.DetectorId);
        Assert.Equal([2, 4], result.Scores.Shape.ToArray());
        Assert.Equal(8, result.Evidence.Count);
        Assert.NotEmpty(result.Notes);
        var scores = result.Scores.ToArray();
        if (id == "s_inhibition")
        {
            // The name movers are in layer 1 (the only layer with senders below it): layer 0 sends, layer 1 cannot.
            Assert.All(scores.Take(4), v => Assert.True(float.IsFinite(v)));
            Assert.All(scores.Skip(4), v => Assert.True(float.IsNaN(v)));
        }
        else Assert.All(scores, v => Assert.True(float.IsFinite(v), $"{id}: score {v}"));
        if (id == "retrieval")
        {
            // A random model rarely puts its top-1 attention on the needle token; the score is a fraction either way.
            Assert.All(scores, v => Assert.InRange(v, 0f, 1f));
            Assert.Contains(result.Notes, n => n.Contains("teacher-forced") || n.Contains("greedy decoding"));
        }
        else Assert.NotEqual(scores.Where(float.IsFinite).Min(), scores.Where(float.IsFinite).Max());

        var task = ((ICausalDetector)detector).CausalTask(context);
        Assert.NotNull(task);
        double clean = task.Evaluate(new HookSet(Config));
        Assert.True(double.IsFinite(clean), $"{id}: metric {clean}");
        Assert.Equal(clean, task.Evaluate(new HookSet(Config))); // deterministic
        var ablated = new HookSet(Config);
        for (int h = 0; h < 4; h++) HeadAblation.Zero(ablated, 1, h);
        double changed = task.Evaluate(ablated);
        Assert.True(double.IsFinite(changed));
        if (id != "retrieval") Assert.NotEqual(clean, changed); // accuracy of a random model may sit at 0 either way
    }

    /// <summary>
    /// The pattern detectors' task metrics pick what the tokenizer allows: duplicate-token heads through IOI with the
    /// GPT-2 tokenizer, the repeated-tokens loss without one; the text detectors (and positional) the sample-text loss;
    /// the attention sink has none.
    /// </summary>
    [Fact]
    public void PatternDetectorsGetTheMostRelevantTaskMetricTheTokenizerAllows()
    {
        var withTokenizer = new DetectorContext(Random.Value, Gpt2.Value, Options);
        var without = new DetectorContext(Random.Value, null, Options);
        CausalTask? Task(string id, DetectorContext c) => ((ICausalDetector)DetectorRegistry.Get(id)).CausalTask(c);

        var duplicate = Task("duplicate_token", withTokenizer)!;
        Assert.Contains("ioi", duplicate.Metric);
        Assert.True(duplicate.HigherIsBetter);
        Assert.Contains("repeated", Task("duplicate_token", without)!.Metric);
        Assert.Contains("repeated", Task("previous_token", withTokenizer)!.Metric);
        Assert.Equal(Task("induction", withTokenizer)!.Key, Task("previous_token", withTokenizer)!.Key);
        foreach (var id in new[] { "subword_merge", "rare_words", "positional" })
        {
            var text = Task(id, withTokenizer)!;
            Assert.Contains("natural text", text.Metric);
            Assert.False(text.HigherIsBetter);
            double clean = text.Evaluate(new HookSet(Random.Value.Config));
            Assert.Equal(clean, text.Evaluate(new HookSet(Random.Value.Config)));
            Assert.InRange(clean, 1, 30); // a random model over 50257 tokens: about ln 50257 ≈ 10.8
        }
        Assert.Null(Task("positional", without));
        Assert.False(DetectorRegistry.Get("attention_sink") is ICausalDetector);
    }

    public static TheoryData<string> Ids() => [.. TaskIds];

    [Fact]
    public void SkipsWithAReasonOnStories260KAndWithoutTokenizerAndRunsEveryTaskOnTheEmbeddedModel()
    {
        using var stories = ModelLoader.Load(TestPaths.SharedModel("stories260K"));
        using var toy = ModelLoader.Load(Path.Combine(TestPaths.RepoRoot, "models", "embedded"));
        // What each vocabulary can spell: stories260K has three single-token names (IOI) and the letters " a" … " h"
        // (successor); the toy English spells every task set (docs/EMBEDDED-MODEL.md). The rest say why not.
        var runs = new Dictionary<LoadedModel, string[]>
        {
            [stories] = ["name_mover", "negative_name_mover", "s_inhibition", "successor"],
            [toy] = [.. TaskIds],
        };
        foreach (var id in TaskIds)
        {
            var detector = (ICausalDetector)DetectorRegistry.Get(id);
            foreach (var loaded in new[] { stories, toy })
            {
                var context = new DetectorContext(loaded.Model, loaded.Tokenizer, Options);
                if (runs[loaded].Contains(id))
                {
                    Assert.Null(detector.CannotRun(context));
                    continue;
                }
                var reason = detector.CannotRun(context);
                Assert.NotNull(reason);
                Assert.StartsWith("cannot build the ", reason);
                Assert.Null(detector.CausalTask(context));
                var e = Assert.Throws<HeadMinerException>(() => detector.Run(context));
                Assert.Contains(reason, e.Message);
            }
            Assert.Contains("needs a tokenizer", detector.CannotRun(new DetectorContext(Random.Value, null, Options)));
        }
    }

    /// <summary>
    /// The atlas's per-head check on a task set of mixed prompt lengths (MCQA, one forward per length): resample
    /// ablation replays the recorded forwards in order, every effect has a percentile in [0, 100], only labelled heads
    /// are graded, and a cap on the random heads is stated in the notes.
    /// </summary>
    [Fact]
    public void CausalEvidenceRunsOnAMixedLengthTaskSet()
    {
        var context = new DetectorContext(Random.Value, Gpt2.Value, Options);
        var detector = (ICausalDetector)DetectorRegistry.Get("single_letter_mcqa");
        var scored = detector.Run(context);
        // Label the two best heads (this random model has no real letter head) so that every ablation is exercised.
        var result = scored with { Threshold = scored.Ranked()[2].Score };
        Assert.Equal(2, result.Labelled().Count);
        var task = detector.CausalTask(context)!;
        var options = new HeadMiner.Analysis.Atlas.AtlasOptions { Detector = Options, RandomDraws = 5, RandomHeads = 3 };
        var causal = HeadMiner.Analysis.Atlas.CausalConfirmation.Run(Random.Value, task, result, options);
        Assert.Equal(3, causal.Together.Count);
        Assert.All(causal.RandomAlone, r => Assert.Equal(3, r.Effects.Count));
        Assert.Contains(causal.Notes, n => n.Contains("seeded sample of 3"));
        // With nothing labelled the best head is only measured, zero-ablated, against as many random heads.
        var ungraded = HeadMiner.Analysis.Atlas.CausalConfirmation.Run(Random.Value, task, scored with { Threshold = float.MaxValue }, options);
        Assert.Contains(ungraded.Notes, n => n.Contains("measured (not graded), zero-ablated, against 3 random heads"));
        Assert.Equal(["zero"], ungraded.PerHead.Single().Alone.Select(a => a.Ablation));
        Assert.Null(ungraded.PerHead.Single().Grade);
        Assert.NotEmpty(causal.PerHead);
        foreach (var h in causal.PerHead)
        {
            Assert.Equal(["zero", "mean", "resample"], h.Alone.Select(a => a.Ablation));
            Assert.All(h.Alone, a => Assert.InRange(a.Percentile!.Value, 0, 100));
            Assert.Equal(h.Labelled, h.Grade is not null);
        }
        // Resample differs from the clean run (another prompt's z) and is reproducible.
        var again = HeadMiner.Analysis.Atlas.CausalConfirmation.Run(Random.Value, task, result, options);
        Assert.Equal(causal.PerHead.Select(h => h.Alone[2].Value), again.PerHead.Select(h => h.Alone[2].Value));
        Assert.Contains(causal.PerHead.Concat(again.PerHead), h => h.Alone[2].Effect != 0);
    }

    private const int PlantDim = 5, PlantLayer = 0, PlantHead = 2;

    /// <summary>
    /// A random model with one planted head (L0H2) that attends to <paramref name="tokens"/> wherever they stand: the
    /// tokens get a large component on one residual direction and the head's constant query (b_Q) reads that direction
    /// through its keys, so the score gap to every other key is ~20.
    /// </summary>
    private static Transformer Planted(params int[] tokens) => Model(w =>
    {
        foreach (int t in tokens) w.W_E[t, PlantDim] += 20f;
        var block = w.Blocks[PlantLayer];
        for (int i = 0; i < Config.DModel; i++)
            for (int j = 0; j < Config.DHead; j++) block.W_Q[PlantHead, i, j] = block.W_K[PlantHead, i, j] = 0f;
        block.W_K[PlantHead, PlantDim, 0] = 1f;
        for (int j = 0; j < Config.DHead; j++) block.b_Q![PlantHead, j] = block.b_K![PlantHead, j] = 0f;
        block.b_Q![PlantHead, 0] = 10f;
    });

    private static int Token(string text, int index) => Gpt2.Value.Encode(text, addBos: false)[index];

    [Fact]
    public void NegativeAttentionScoreRanksAPlantedNoHeadFirst()
    {
        var result = DetectorRegistry.Get("negative_nas").Run(new DetectorContext(Planted(Token(" No", 0)), Gpt2.Value, Options));
        var top = result.Ranked()[0];
        Assert.Equal((PlantLayer, PlantHead), (top.Layer, top.Head));
        Assert.True(result.Matrices["attention_no"][PlantLayer, PlantHead] > 0.9f, result.EvidenceFor(PlantLayer, PlantHead).Summary);
        Assert.Contains((PlantLayer, PlantHead), result.Labelled().Select(x => (x.Layer, x.Head)));
    }

    [Fact]
    public void McqaScoresTellAPlantedSingleLetterHeadFromAPlantedEvenHead()
    {
        var letters = new[] { "A", "B", "C", "D" }.Select(l => Token("\n" + l + ". x", 1)).ToArray();
        DetectorResult Run(Transformer model, string id) => DetectorRegistry.Get(id).Run(new DetectorContext(model, Gpt2.Value, Options));

        var single = Planted(letters[1]); // always " B", whichever letter is right
        var s = Run(single, "single_letter_mcqa");
        Assert.Equal((PlantLayer, PlantHead, true), (s.Ranked()[0].Layer, s.Ranked()[0].Head, s.Ranked()[0].Score > s.Threshold));
        Assert.InRange(s.Score(PlantLayer, PlantHead), 0.6f, 0.8f); // ~1 on B minus ~1/4 on the correct letter
        Assert.Contains("favourite letter B", s.EvidenceFor(PlantLayer, PlantHead).Summary);
        // +1 on the prompts where B is right, −1/3 on the others: answer-blind attention averages to 0.
        Assert.InRange(Run(single, "correct_letter_mcqa").Score(PlantLayer, PlantHead), -0.05f, 0.05f);
        Assert.True(Run(single, "constant_mcqa").Score(PlantLayer, PlantHead) < 0.1f);

        var even = Planted(letters); // all four letters alike
        var c = Run(even, "constant_mcqa");
        Assert.Equal((PlantLayer, PlantHead), (c.Ranked()[0].Layer, c.Ranked()[0].Head));
        Assert.True(c.Score(PlantLayer, PlantHead) > 0.9f, c.EvidenceFor(PlantLayer, PlantHead).Summary);
        Assert.InRange(Run(even, "single_letter_mcqa").Score(PlantLayer, PlantHead), -0.05f, 0.05f);
    }

    [Fact]
    public void ScoreHelpersFollowTheirDefinitions()
    {
        Assert.Equal(0, NegativeNasDetector.Nas(0.3, 0.3), 12);
        Assert.Equal(0.6 * Math.Log((0.5 + 1e-6) / (0.1 + 1e-6)), NegativeNasDetector.Nas(0.1, 0.5), 12);
        Assert.True(NegativeNasDetector.Nas(0.5, 0.1) < 0);
        Assert.Equal(1, ConstantMcqaDetector.Evenness([0.1f, 0.1f, 0.1f, 0.1f]), 6);
        Assert.Equal(0, ConstantMcqaDetector.Evenness([0f, 0.7f, 0f, 0f]), 6);
        Assert.Equal(0.5, ConstantMcqaDetector.Evenness([0.2f, 0.2f, 0f, 0f]), 6);
    }

    [Fact]
    public void ProbMassDiffIsTheSoftmaxMassOfTheAnswerSetMinusTheWrongSet()
    {
        float[] logits = [0f, MathF.Log(2), MathF.Log(3), 0f];
        Assert.Equal(4.0 / 7, Metric.ProbMassDiff(logits, [1, 2], [0]), 6);
        Assert.Equal(4.0 / 7, Metric.ProbMassDiff(logits, [1, 1, 2], [0, 0]), 6); // an id listed twice counts once
        Assert.Equal(-3.0 / 7, Metric.ProbMassDiff(logits, [3], [0, 1, 3]), 6);
        Assert.Throws<HeadMinerException>(() => Metric.ProbMassDiff(logits, [4], [0]));
    }
}
