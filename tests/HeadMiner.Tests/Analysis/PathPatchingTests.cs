using HeadMiner.Analysis.Patching;
using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis;

/// <summary>Path patching on tiny random models of every architecture path (GPT-2-like, NeoX-like parallel + rotary, Llama-like GQA, sliding window).</summary>
public class PathPatchingTests
{
    public static TheoryData<int> Configs => AnalysisModels.Indices;

    private const int PairCount = 3, Length = 7;

    /// <summary>Random clean prompts; the corrupted prompt changes two positions (one of them the last), so the runs differ.</summary>
    private static TokenizedPairs RandomPairs(ModelConfig c, ulong seed, bool identical = false)
    {
        var rng = new SeededRandom(seed);
        var clean = new int[PairCount][];
        var corrupted = new int[PairCount][];
        var answers = new int[PairCount];
        var wrongs = new int[PairCount];
        for (int i = 0; i < PairCount; i++)
        {
            clean[i] = Enumerable.Range(0, Length).Select(_ => rng.NextInt(c.VocabSize)).ToArray();
            corrupted[i] = (int[])clean[i].Clone();
            if (!identical)
            {
                corrupted[i][2] = (clean[i][2] + 1 + rng.NextInt(c.VocabSize - 1)) % c.VocabSize;
                corrupted[i][Length - 1] = (clean[i][Length - 1] + 1 + rng.NextInt(c.VocabSize - 1)) % c.VocabSize;
            }
            answers[i] = rng.NextInt(c.VocabSize);
            wrongs[i] = (answers[i] + 1 + rng.NextInt(c.VocabSize - 1)) % c.VocabSize;
        }
        return new TokenizedPairs(clean, corrupted, answers, wrongs);
    }

    /// <summary>
    /// The sender's change to the residual stream, [B·T, d], measured by brute force on the real forward: the clean
    /// run with only the sender's hook_z taken from the corrupted run, minus the clean run, at its layer's
    /// hook_attn_out. Without post-norms that is (z_corr − z_clean)·W_O; with them it is the re-normalised layer
    /// output's change (the post-norm rescales the layer's other heads too), the semantics path patching promises.
    /// </summary>
    private static float[] SenderDelta(Transformer model, TokenizedPairs pairs, int layer, int head)
    {
        var c = model.Config;
        var z = HookName.Of(ActivationSite.Z, layer);
        var attnOut = HookName.Of(ActivationSite.AttnOut, layer);
        var (_, clean) = model.RunWithCache(pairs.CleanBatch(), CacheFilter.Of(attnOut));
        var (_, corrupted) = model.RunWithCache(pairs.CorruptedBatch(), CacheFilter.Of(z));
        var hooks = new HookSet(c);
        ActivationPatch.FromCache(hooks, z, corrupted, head);
        float[]? patched = null;
        hooks.Add(attnOut, (activation, _) => patched = activation.Contiguous().ToArray());
        model.RunWithHooks(pairs.CleanBatch(), hooks);
        var before = clean.Get(attnOut).Contiguous().ToArray();
        return patched!.Zip(before, (a, b) => a - b).ToArray();
    }

    /// <summary>The additive sender write (z_corr − z_clean)·W_O[h], [B·T, d]: what SenderDelta measures on a model without post-norms.</summary>
    private static float[] AdditiveDelta(Transformer model, TokenizedPairs pairs, int layer, int head)
    {
        var c = model.Config;
        var z = HookName.Of(ActivationSite.Z, layer);
        var (_, clean) = model.RunWithCache(pairs.CleanBatch(), CacheFilter.Of(z));
        var (_, corrupted) = model.RunWithCache(pairs.CorruptedBatch(), CacheFilter.Of(z));
        var zClean = clean.Get(z).Contiguous().Span;
        var zCorrupted = corrupted.Get(z).Contiguous().Span;
        int rows = pairs.Count * pairs.Length, width = c.Heads * c.DHead;
        var diff = new float[rows * c.DHead];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < c.DHead; k++)
                diff[r * c.DHead + k] = zCorrupted[r * width + head * c.DHead + k] - zClean[r * width + head * c.DHead + k];
        var wo = model.Weights.Blocks[layer].W_O.Select(0, head).Contiguous(); // [dh, d]
        var delta = new float[rows * c.DModel];
        Gemm.Multiply(false, false, rows, c.DModel, c.DHead, 1f, diff, c.DHead, wo.Span, c.DModel, 0f, delta, c.DModel);
        return delta;
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void TheHookedSenderDeltaIsTheAdditiveWriteExactlyWhenThereIsNoPostNorm(int index)
    {
        // Ties the brute-force reference to the textbook definition: without post-norms the two are one thing; with
        // them the re-normalised write differs from (z_corr − z_clean)·W_O (else the post-norm cases would test nothing new).
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 19);
        var hooked = SenderDelta(model, pairs, 0, 1);
        var additive = AdditiveDelta(model, pairs, 0, 1);
        double gap = hooked.Zip(additive).Max(p => Math.Abs(p.First - p.Second));
        if (c.PostNorm) Assert.True(gap > 1e-2, $"post-norm write equals the additive one (gap {gap}): the case shows nothing");
        else Assert.True(gap < 1e-5, $"hooked write differs from (z_corr − z_clean)·W_O by {gap}");
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void PathToTheLogitsEqualsTheSendersDirectEffect(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 11);
        foreach (var kind in new[] { MetricKind.LogitDiff, MetricKind.Loss })
        {
            var patching = PathPatching.Create(model, pairs, kind);
            var residPost = HookName.Of(ActivationSite.ResidPost, c.Layers - 1);
            var (_, cache) = model.RunWithCache(pairs.CleanBatch(), CacheFilter.Of(residPost));
            var final = cache.Get(residPost).Contiguous().ToArray();
            int rows = pairs.Count * pairs.Length, d = c.DModel, v = c.VocabSize;
            double largestChange = 0;
            foreach (var (layer, head) in new[] { (0, 1), (1, 2), (1, 0) })
            {
                // Independent direct effect: clean final residual + the sender's change, then the final norm
                // (recomputed, not the cached scale) and the unembedding.
                var delta = SenderDelta(model, pairs, layer, head);
                var x = final.Zip(delta, (a, b) => a + b).ToArray();
                var normed = new float[x.Length];
                var gamma = model.Weights.LnFinalWeight is { } g ? g.Contiguous().ToArray() : [];
                var beta = model.Weights.LnFinalBias is { } bl ? bl.Contiguous().ToArray() : [];
                if (c.Norm == NormKind.LayerNorm) Norms.LayerNorm(x, normed, rows, d, gamma, beta, c.NormEps);
                else Norms.RmsNorm(x, normed, rows, d, gamma, c.NormEps);
                var logits = new float[rows * v];
                Gemm.Multiply(false, false, rows, v, d, 1f, normed, d, model.Weights.W_U.Contiguous().Span, v, 0f, logits, v);
                if (model.Weights.b_U is { } bu)
                {
                    var bias = bu.Contiguous().ToArray();
                    for (int r = 0; r < rows; r++)
                        for (int k = 0; k < v; k++) logits[r * v + k] += bias[k];
                }
                if (c.FinalLogitSoftCap is { } cap)
                    for (int k = 0; k < logits.Length; k++) logits[k] = cap * MathF.Tanh(logits[k] / cap);
                double expected = patching.Metric.Compute(Tensor.Wrap(logits, pairs.Count, pairs.Length, v));

                var result = patching.Patch(layer, head, PathReceivers.Logits);
                Assert.Equal(expected, result.Patched, 1e-4);
                Assert.Equal(Metric.Normalize(expected, patching.CleanMetric, patching.CorruptedMetric), result.Normalized, 1e-3);
                Assert.Equal(1 - result.Normalized, result.Effect, 12);
                largestChange = Math.Max(largestChange, Math.Abs(result.Patched - patching.CleanMetric));
            }
            Assert.True(largestChange > 1e-3, $"no sender changed the {kind} metric: the test shows nothing");
        }
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void TheSweepToTheLogitsMatchesSingleSenderPatches(int index)
    {
        // The sweep batches several senders into one forward; each copy must equal its own single-sender run.
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var patching = PathPatching.Create(model, RandomPairs(c, 12), MetricKind.ProbDiff);
        patching.MaxRowsPerRun = 2 * PairCount * Length; // two senders per forward: batches of 2 and a remainder of 1 (3 heads) or 2 (4 heads)
        var sweep = patching.Sweep(PathReceivers.Logits);
        Assert.Equal(c.Layers * c.Heads, sweep.Results.Count);
        foreach (var r in sweep.Results)
        {
            Assert.Equal(patching.Patch(r.SenderLayer, r.SenderHead, PathReceivers.Logits).Patched, r.Patched, 1e-6);
            Assert.Equal(r.Patched, sweep.Patched[r.SenderLayer, r.SenderHead]);
            Assert.Equal(r.Normalized, sweep.Normalized[r.SenderLayer, r.SenderHead]);
        }
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void WhenCleanEqualsCorruptedThePatchedMetricIsCleanAndNormalisedIsNaN(int index)
    {
        // Convention: with nothing to explain (clean metric = corrupted metric) the normalised value is NaN and the
        // raw metric is the clean one, because every patched value equals its clean value.
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var patching = PathPatching.Create(model, RandomPairs(c, 13, identical: true), MetricKind.LogitDiff);
        Assert.Equal(patching.CleanMetric, patching.CorruptedMetric);
        foreach (var receivers in new[] { PathReceivers.Logits, PathReceivers.Parse("1.0:qkv,1.2:k", c) })
        {
            var sweep = patching.Sweep(receivers);
            Assert.NotEmpty(sweep.Results);
            Assert.All(sweep.Results, r =>
            {
                Assert.Equal(patching.CleanMetric, r.Patched, 1e-5);
                Assert.True(double.IsNaN(r.Normalized));
            });
        }
    }

    [Fact]
    public void AReceiverInALayerNotAfterTheSenderIsRejected()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        var patching = PathPatching.Create(model, RandomPairs(c, 14), MetricKind.LogitDiff);
        var same = Assert.Throws<HeadMinerException>(() => patching.Patch(1, 0, PathReceivers.Parse("1.2:q", c)));
        Assert.Contains("cannot reach receiver 1.2:q", same.Message);
        Assert.Contains("later layer", same.Message);
        var earlier = Assert.Throws<HeadMinerException>(() => patching.Patch(1, 1, PathReceivers.Parse("0.1:k,1.0:v", c)));
        Assert.Contains("0.1:k, 1.0:v", earlier.Message);
        Assert.Contains("not a head", Assert.Throws<HeadMinerException>(() => patching.Patch(0, 3, PathReceivers.Logits)).Message);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void ALastLayerSenderToTheLogitsEqualsPatchingItsZWithTheLastMlpPinned(int index)
    {
        // Freezing check. Activation patching of one last-layer head's z changes the logits through its direct path
        // and, in sequential blocks, through the last MLP (which reads resid_mid); pinning that MLP to its clean
        // output leaves only the direct path, which is what path patching to the logits measures.
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 15);
        var patching = PathPatching.Create(model, pairs, MetricKind.LogitDiff);
        int last = c.Layers - 1;
        var z = HookName.Of(ActivationSite.Z, last);
        var mlpOut = HookName.Of(ActivationSite.MlpOut, last);
        var (_, corrupted) = model.RunWithCache(pairs.CorruptedBatch(), CacheFilter.Of(z));
        var (_, clean) = model.RunWithCache(pairs.CleanBatch(), CacheFilter.Of(mlpOut));
        for (int head = 0; head < c.Heads; head++)
        {
            var hooks = new HookSet(c);
            ActivationPatch.FromCache(hooks, z, corrupted, head);
            var zOnly = patching.Metric.Compute(model.RunWithHooks(pairs.CleanBatch(), hooks, lastOnly: true));
            ActivationPatch.FromCache(hooks, mlpOut, clean);
            var pinned = patching.Metric.Compute(model.RunWithHooks(pairs.CleanBatch(), hooks, lastOnly: true));
            var path = patching.Patch(last, head, PathReceivers.Logits).Patched;
            Assert.Equal(pinned, path, 1e-5);
            // In parallel blocks the MLP reads the block input, so the head's z alone already has only a direct effect.
            if (c.ParallelAttnMlp) Assert.Equal(zOnly, path, 1e-5);
        }
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void AReceiverInputSeesExactlyTheSendersDirectWrite(int index)
    {
        // Independent pass 2: run clean and add the sender's (z_corr − z_clean)·W_O to the receiver's own split
        // input only (its k/v head's input for k and v).
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 16);
        var patching = PathPatching.Create(model, pairs, MetricKind.LogitDiff);
        const int senderHead = 1, receiverHead = 2;
        var delta = SenderDelta(model, pairs, 0, senderHead);
        foreach (var (site, letter) in new[] { (ActivationSite.QInput, "q"), (ActivationSite.KInput, "k"), (ActivationSite.VInput, "v") })
        {
            int siteHead = site == ActivationSite.QInput ? receiverHead : c.KvHeadOf(receiverHead);
            var hooks = new HookSet(c);
            hooks.Add(HookName.Of(site, 1), (activation, _) =>
            {
                var live = activation.Span;
                int heads = activation.Dim(2), d = c.DModel;
                for (int r = 0; r < delta.Length / d; r++)
                    for (int k = 0; k < d; k++) live[(r * heads + siteHead) * d + k] += delta[r * d + k];
            });
            double expected = patching.Metric.Compute(model.RunWithHooks(pairs.CleanBatch(), hooks, lastOnly: true));
            var result = patching.Patch(0, senderHead, PathReceivers.Parse($"1.{receiverHead}:{letter}", c));
            Assert.Equal(expected, result.Patched, 1e-5);
        }
    }

    /// <summary>Adds <paramref name="delta"/> ([B·T, d]) to a [B, T, d] hook point of the clean run.</summary>
    private static void AddAt(HookSet hooks, HookName hook, float[] delta) =>
        hooks.Add(hook, (activation, _) => System.Numerics.Tensors.TensorPrimitives.Add(activation.Span, delta, activation.Span));

    [Theory]
    [MemberData(nameof(Configs))]
    public void AnMlpReceiverSeesExactlyTheSendersDirectWrite(int index)
    {
        // Independent pass 2: run clean and add the sender's write to that MLP's own input only (hook_mlp_in), for a
        // sender in an earlier layer and, in sequential blocks, in the MLP's own layer (attention runs first).
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 21);
        var patching = PathPatching.Create(model, pairs, MetricKind.LogitDiff);
        var cases = c.ParallelAttnMlp ? new[] { (0, 1, 1) } : [(0, 1, 1), (0, 2, 0), (1, 0, 1)];
        double largest = 0;
        foreach (var (senderLayer, senderHead, mlp) in cases)
        {
            var delta = SenderDelta(model, pairs, senderLayer, senderHead);
            var hooks = new HookSet(c);
            AddAt(hooks, HookName.Of(ActivationSite.MlpIn, mlp), delta);
            double expected = patching.Metric.Compute(model.RunWithHooks(pairs.CleanBatch(), hooks, lastOnly: true));
            var result = patching.Patch(senderLayer, senderHead, PathReceivers.Parse($"mlp{mlp}", c));
            Assert.Equal(expected, result.Patched, 1e-5);
            largest = Math.Max(largest, Math.Abs(result.Patched - patching.CleanMetric));
        }
        Assert.True(largest > 1e-4, $"no sender changed the metric through an MLP (largest change {largest}): the test shows nothing");
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void LogitsAndAnMlpTogetherAddTheDirectWriteToTheFinalResidual(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 22);
        var patching = PathPatching.Create(model, pairs, MetricKind.LogitDiff);
        int last = c.Layers - 1;
        var delta = SenderDelta(model, pairs, 0, 2);
        var hooks = new HookSet(c);
        AddAt(hooks, HookName.Of(ActivationSite.MlpIn, last), delta);
        AddAt(hooks, HookName.Of(ActivationSite.ResidPost, last), delta);
        double expected = patching.Metric.Compute(model.RunWithHooks(pairs.CleanBatch(), hooks, lastOnly: true));
        var receivers = PathReceivers.Parse($"mlp{last},logits", c);
        Assert.Equal($"logits,mlp{last}", receivers.ToString());
        Assert.Equal(expected, patching.Patch(0, 2, receivers).Patched, 1e-5);
        // The two paths together differ from the direct path alone (else the MLP path would be untested).
        Assert.True(Math.Abs(expected - patching.Patch(0, 2, PathReceivers.Logits).Patched) > 1e-5);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void ALastLayerSenderToTheLogitsAndTheLastMlpEqualsPatchingItsZ(int index)
    {
        // In sequential blocks a last-layer head reaches the logits directly and through the last MLP only, so the two
        // receivers together carry its whole effect: activation patching of its z, with nothing pinned.
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 23);
        var patching = PathPatching.Create(model, pairs, MetricKind.LogitDiff);
        int last = c.Layers - 1;
        var z = HookName.Of(ActivationSite.Z, last);
        var (_, corrupted) = model.RunWithCache(pairs.CorruptedBatch(), CacheFilter.Of(z));
        var receivers = PathReceivers.Parse($"logits,mlp{last}", c);
        if (c.ParallelAttnMlp)
        {
            // A parallel block's MLP reads resid_pre: its own layer's heads cannot reach it, and saying so beats a silent 0.
            Assert.Contains("parallel", Assert.Throws<HeadMinerException>(() => patching.Patch(last, 0, receivers)).Message);
            return;
        }
        for (int head = 0; head < c.Heads; head++)
        {
            var hooks = new HookSet(c);
            ActivationPatch.FromCache(hooks, z, corrupted, head);
            var whole = patching.Metric.Compute(model.RunWithHooks(pairs.CleanBatch(), hooks, lastOnly: true));
            Assert.Equal(whole, patching.Patch(last, head, receivers).Patched, 1e-5);
        }
    }

    /// <summary>
    /// Brute force for the MLPs-on-path mode: the clean run with every head's hook_z pinned to the clean run's, except
    /// the sender's, taken from the corrupted run; the MLPs (and post-norms) recompute. Returns the hooks that do it.
    /// </summary>
    private static HookSet HeadsPinned(Transformer model, TokenizedPairs pairs, int senderLayer, int senderHead)
    {
        var c = model.Config;
        var zs = Enumerable.Range(0, c.Layers).Select(l => HookName.Of(ActivationSite.Z, l)).ToArray();
        var (_, clean) = model.RunWithCache(pairs.CleanBatch(), CacheFilter.Of(zs));
        var (_, corrupted) = model.RunWithCache(pairs.CorruptedBatch(), CacheFilter.Of(zs[senderLayer]));
        var hooks = new HookSet(c);
        for (int l = 0; l < c.Layers; l++) ActivationPatch.FromCache(hooks, zs[l], clean);
        ActivationPatch.FromCache(hooks, zs[senderLayer], corrupted, senderHead);
        return hooks;
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void WithTheMlpsOnThePathTheLogitsPathIsTheSenderPatchedWithEveryOtherHeadPinned(int index)
    {
        // The IOI paper's definition: only the other heads are frozen, so the sender's effect through the MLPs after it
        // counts. A sweep gives the same values as single senders, and in a model whose MLPs read the sender's write
        // the result differs from the frozen-MLP (direct) path.
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 23);
        var onPath = PathPatching.Create(model, pairs, MetricKind.LogitDiff, mlpsOnPath: true);
        var frozen = PathPatching.Create(model, pairs, MetricKind.LogitDiff);
        var sweep = onPath.Sweep(PathReceivers.Logits);
        double largestGap = 0;
        for (int l = 0; l < c.Layers; l++)
            for (int h = 0; h < c.Heads; h += 2)
            {
                double expected = onPath.Metric.Compute(model.RunWithHooks(pairs.CleanBatch(), HeadsPinned(model, pairs, l, h), lastOnly: true));
                var single = onPath.Patch(l, h, PathReceivers.Logits).Patched;
                Assert.Equal(expected, single, 1e-5);
                Assert.Equal(single, sweep.Patched[l, h], 1e-9);
                largestGap = Math.Max(largestGap, Math.Abs(single - frozen.Patch(l, h, PathReceivers.Logits).Patched));
            }
        Assert.True(largestGap > 1e-4, $"the MLPs never changed a path (largest gap {largestGap}): the test shows nothing");
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void WithTheMlpsOnThePathAReceiverQueryReadsTheHeadsPinnedRunsResidual(int index)
    {
        // Pass 1 by brute force (heads pinned, sender corrupted, MLPs recomputed), its resid_pre at the receiver's layer
        // and its final residual; pass 2: the clean run with the receiver's query input replaced by that resid_pre and,
        // with the logits among the receivers, the final residual's change added.
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 24);
        var onPath = PathPatching.Create(model, pairs, MetricKind.LogitDiff, mlpsOnPath: true);
        int last = c.Layers - 1;
        const int senderHead = 1;
        int receiverHead = c.Heads - 1;
        var residPre = HookName.Of(ActivationSite.ResidPre, last);
        var residPost = HookName.Of(ActivationSite.ResidPost, last);
        var (_, pass1) = model.RunWithCache(pairs.CleanBatch(), CacheFilter.Of(residPre, residPost), hooks: HeadsPinned(model, pairs, 0, senderHead));
        var (_, clean) = model.RunWithCache(pairs.CleanBatch(), CacheFilter.Of(residPost));
        var pre = pass1[ActivationSite.ResidPre, last].Contiguous().ToArray();
        var finalChange = pass1[ActivationSite.ResidPost, last].Contiguous().ToArray();
        System.Numerics.Tensors.TensorPrimitives.Subtract(finalChange, clean[ActivationSite.ResidPost, last].Contiguous().ToArray(), finalChange);
        foreach (bool withLogits in new[] { false, true })
        {
            var hooks = new HookSet(c);
            hooks.Add(HookName.Of(ActivationSite.QInput, last), (activation, _) =>
            {
                var live = activation.Span;
                int heads = activation.Dim(2), d = c.DModel;
                for (int r = 0; r < pre.Length / d; r++) pre.AsSpan(r * d, d).CopyTo(live.Slice((r * heads + receiverHead) * d, d));
            });
            if (withLogits) AddAt(hooks, residPost, finalChange);
            double expected = onPath.Metric.Compute(model.RunWithHooks(pairs.CleanBatch(), hooks, lastOnly: true));
            var receivers = PathReceivers.Parse((withLogits ? "logits," : "") + $"{last}.{receiverHead}:q", c);
            Assert.Equal(expected, onPath.Patch(0, senderHead, receivers).Patched, 1e-5);
        }
        // MLP receivers would count the paths through the MLPs twice: refused, naming them.
        var e = Assert.Throws<HeadMinerException>(() => onPath.Patch(0, senderHead, PathReceivers.Parse($"logits,mlp{last}", c)));
        Assert.Contains($"mlp{last}", e.Message);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void WithTheMlpsOnThePathReceiversInTwoMiddleLayersReadTheHeadsPinnedRunsResiduals(int index)
    {
        // Four layers, receivers in layers 1 and 2: pass 1 stops at layer 2's resid_pre (layers 2 and 3 are not run
        // there), so this checks that the shortened pass 1 gives both receiver layers the brute-force residuals.
        var two = AnalysisModels.All[index];
        var c = two with { Layers = 4, AttentionWindow = [.. Enumerable.Range(0, 4).Select(l => two.AttentionWindow[l % two.AttentionWindow.Length])] };
        using var model = TinyModels.Create(c, seed: 11);
        var pairs = RandomPairs(c, 25);
        var onPath = PathPatching.Create(model, pairs, MetricKind.LogitDiff, mlpsOnPath: true);
        int receiverHead = c.Heads - 1;
        var receivers = PathReceivers.Parse($"1.0:q,2.{receiverHead}:q", c);
        var sweep = onPath.Sweep(receivers);
        for (int senderHead = 0; senderHead < c.Heads; senderHead++)
        {
            var pinned = HeadsPinned(model, pairs, 0, senderHead);
            var (_, pass1) = model.RunWithCache(pairs.CleanBatch(), CacheFilter.Of(HookName.Of(ActivationSite.ResidPre, 1), HookName.Of(ActivationSite.ResidPre, 2)), hooks: pinned);
            var hooks = new HookSet(c);
            foreach (var (layer, head) in new[] { (1, 0), (2, receiverHead) })
            {
                var pre = pass1[ActivationSite.ResidPre, layer].Contiguous().ToArray();
                hooks.Add(HookName.Of(ActivationSite.QInput, layer), (activation, _) =>
                {
                    var live = activation.Span;
                    int heads = activation.Dim(2), d = c.DModel;
                    for (int r = 0; r < pre.Length / d; r++) pre.AsSpan(r * d, d).CopyTo(live.Slice((r * heads + head) * d, d));
                });
            }
            double expected = onPath.Metric.Compute(model.RunWithHooks(pairs.CleanBatch(), hooks, lastOnly: true));
            Assert.Equal(expected, onPath.Patch(0, senderHead, receivers).Patched, 1e-5);
            Assert.Equal(expected, sweep.Patched[0, senderHead], 1e-5);
            Assert.True(double.IsNaN(sweep.Patched[1, senderHead]), "layer-1 heads cannot send to a layer-1 receiver");
        }
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void ASweepToAnMlpMatchesSingleSendersAndIsNaNWhereSendersCannotReach(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var patching = PathPatching.Create(model, RandomPairs(c, 24), MetricKind.LogitDiff);
        patching.MaxRowsPerRun = 2 * PairCount * Length;
        var receivers = PathReceivers.Parse("mlp0", c);
        var sweep = patching.Sweep(receivers);
        // Sequential blocks: layer-0 heads reach MLP 0; parallel blocks: nothing does.
        int reaching = c.ParallelAttnMlp ? 0 : 1;
        Assert.Equal(reaching * c.Heads, sweep.Results.Count);
        for (int l = 0; l < c.Layers; l++)
            for (int h = 0; h < c.Heads; h++)
                if (l < reaching) Assert.Equal(patching.Patch(l, h, receivers).Patched, sweep.Patched[l, h], 1e-6);
                else Assert.True(double.IsNaN(sweep.Patched[l, h]));
    }

    [Fact]
    public void AnMlpReceiverBelowTheSenderOrInAParallelSendersLayerIsRejected()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        var patching = PathPatching.Create(model, RandomPairs(c, 25), MetricKind.LogitDiff);
        var below = Assert.Throws<HeadMinerException>(() => patching.Patch(1, 0, PathReceivers.Parse("mlp0,mlp1", c)));
        Assert.Contains("cannot reach receiver mlp0:", below.Message);
        Assert.Contains("in the sender's layer or later", below.Message);

        var p = TinyModels.NeoXLike();
        Assert.True(p.ParallelAttnMlp);
        using var parallel = TinyModels.Create(p);
        var parallelPatching = PathPatching.Create(parallel, RandomPairs(p, 26), MetricKind.LogitDiff);
        var same = Assert.Throws<HeadMinerException>(() => parallelPatching.Patch(1, 0, PathReceivers.Parse("mlp1", p)));
        Assert.Contains("cannot reach receiver mlp1", same.Message);
        Assert.Contains("parallel", same.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void ASweepToAReceiversQueryChangesTheMetricAndIsNaNWhereSendersCannotReach(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var patching = PathPatching.Create(model, RandomPairs(c, 17), MetricKind.LogitDiff);
        var receivers = PathReceivers.Parse("1.0:q", c);
        var sweep = patching.Sweep(receivers);
        Assert.Equal(c.Heads, sweep.Results.Count);
        for (int h = 0; h < c.Heads; h++)
        {
            Assert.True(double.IsFinite(sweep.Patched[0, h]) && double.IsFinite(sweep.Normalized[0, h]));
            Assert.Equal(patching.Patch(0, h, receivers).Patched, sweep.Patched[0, h], 1e-6); // batched copies = single runs
            Assert.True(double.IsNaN(sweep.Patched[1, h]) && double.IsNaN(sweep.Normalized[1, h]));
        }
        double largest = sweep.Results.Max(r => Math.Abs(r.Patched - patching.CleanMetric));
        Assert.True(largest > 1e-4, $"no layer-0 sender changed the metric through 1.0's query (largest change {largest})");
    }

    [Fact]
    public void GroupedQueryKeyReceiversNameTheQueryHeadsTheirKvHeadFeeds()
    {
        var c = TinyModels.LlamaLike(); // 4 query heads, 2 k/v heads
        var receivers = PathReceivers.Parse("1.1:k, 1.3:v, 1.3:q", c);
        Assert.Equal(3, receivers.Inputs.Count);
        Assert.Equal((ActivationSite.KInput, 0, "0,1"), Describe(receivers.Inputs[0]));
        Assert.Equal((ActivationSite.VInput, 1, "2,3"), Describe(receivers.Inputs[1]));
        Assert.Equal((ActivationSite.QInput, 3, "3"), Describe(receivers.Inputs[2]));
        Assert.Equal("1.1:k,1.3:v,1.3:q", receivers.ToString());

        // Two query heads' keys that share one k/v head are one receiver site: the same numbers as naming one.
        using var model = TinyModels.Create(c);
        var patching = PathPatching.Create(model, RandomPairs(c, 18), MetricKind.LogitDiff);
        var both = patching.Patch(0, 2, PathReceivers.Parse("1.0:k,1.1:k", c)).Patched;
        var one = patching.Patch(0, 2, PathReceivers.Parse("1.1:k", c)).Patched;
        Assert.Equal(one, both, 1e-9);
    }

    private static (ActivationSite, int, string) Describe(ReceiverInput r) => (r.Site, r.SiteHead, string.Join(",", r.FedQueryHeads));

    [Theory]
    [InlineData("12.3:q", "2 layers")]
    [InlineData("1.9:q", "3 heads")]
    [InlineData("x.y:q", "LAYER.HEAD")]
    [InlineData("x.y", "expected L.H:q")]
    [InlineData("1.0:z", "'z' is not an input")]
    [InlineData("1.0:", "no input")]
    [InlineData(",", "no receivers")]
    [InlineData("mlp2", "2 layers")]
    [InlineData("mlpx", "mlpLAYER")]
    [InlineData("mlp", "mlpLAYER")]
    public void BadReceiversGetOneClearMessage(string text, string expected)
    {
        var e = Assert.Throws<HeadMinerException>(() => PathReceivers.Parse(text, TinyModels.Gpt2Like()));
        Assert.Contains(expected, e.Message);
    }
}
