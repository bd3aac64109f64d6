using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;
using Shape = HeadMiner.Tests.Reference.ReferenceAttention.Shape;

namespace HeadMiner.Tests.Kernels;

[Collection(ThreadSettingCollection.Name)]
public class AttentionTests
{
    private const double Tolerance = 1e-5;

    /// <summary>
    /// One call's inputs in the kernel's strided layout. Columns past the heads (qPad, kvPad) hold NaN, so a kernel that
    /// reads outside its head's columns poisons its output.
    /// </summary>
    private sealed class Inputs
    {
        public required Shape S { get; init; }
        public required float[] Q { get; init; }
        public required float[] K { get; init; }
        public required float[] V { get; init; }
        public required int QStride { get; init; }
        public required int KvStride { get; init; }

        public AttentionMask Mask => new()
        {
            FirstQueryPosition = S.FirstQueryPosition,
            SlidingWindow = S.SlidingWindow,
            KeyValid = S.KeyValid ?? default(ReadOnlySpan<bool>),
        };

        public static Inputs Random(Shape s, ulong seed, int qPad = 0, int kvPad = 0, float std = 1f)
        {
            var rng = new SeededRandom(seed);
            int qStride = s.QueryWidth + qPad, kvStride = s.KvWidth + kvPad;
            return new Inputs
            {
                S = s,
                Q = Rows(rng, s.Queries, qStride, s.QueryWidth, std),
                K = Rows(rng, s.Keys, kvStride, s.KvWidth, std),
                V = Rows(rng, s.Keys, kvStride, s.KvWidth, 1f),
                QStride = qStride,
                KvStride = kvStride,
            };
        }

        private static float[] Rows(SeededRandom rng, int rows, int stride, int width, float std)
        {
            var x = new float[rows * stride];
            x.AsSpan().Fill(float.NaN);
            for (int r = 0; r < rows; r++) rng.FillNormal(x.AsSpan(r * stride, width), std);
            return x;
        }
    }

    private sealed record Outputs(float[] Z, float[] Scores, float[] Pattern);

    private static Outputs RunForward(Inputs x, bool withScoresAndPattern = true)
    {
        var s = x.S;
        var z = new float[s.Queries * s.QueryWidth];
        z.AsSpan().Fill(float.NaN); // must be overwritten, never read
        var scores = withScoresAndPattern ? new float[s.Heads * s.Queries * s.Keys] : [];
        var pattern = withScoresAndPattern ? new float[scores.Length] : [];
        Attention.Forward(x.Q, x.QStride, x.K, x.V, x.KvStride, z, s.QueryWidth,
            s.Queries, s.Keys, s.Heads, s.KvHeads, s.HeadDim, (float)s.Scale, x.Mask, scores, pattern, (float)s.SoftCap);
        return new Outputs(z, scores, pattern);
    }

    /// <summary>max |actual − expected| / max |expected| (norm-wise relative error); exact NaN/∞ agreement required.</summary>
    private static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0, maxRef = 1e-30;
        for (int i = 0; i < expected.Length; i++)
        {
            if (!double.IsFinite(expected[i]) || !float.IsFinite(actual[i]))
            {
                Assert.True(expected[i].Equals((double)actual[i]), $"entry {i}: expected {expected[i]}, got {actual[i]}");
                continue;
            }
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expected[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        return maxDiff / maxRef;
    }

    private static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected) =>
        RelativeError(actual, ReferenceAttention.ToDouble(expected));

    private static bool[] LeftPadding(int keys, int padded)
    {
        var valid = new bool[keys];
        for (int j = padded; j < keys; j++) valid[j] = true;
        return valid;
    }

    private static Shape MakeShape(int queries, int keys, int heads, int kvHeads, int headDim, int firstPos, int window, int leftPad) =>
        new(queries, keys, heads, kvHeads, headDim, 1 / Math.Sqrt(headDim), firstPos, window, leftPad > 0 ? LeftPadding(keys, leftPad) : null);

    [Theory]
    [InlineData(1, 1, 1, 1, 8, 0, 0, 0, 0)]
    [InlineData(7, 7, 3, 3, 8, 0, 0, 0, 0)]
    [InlineData(63, 63, 12, 12, 64, 0, 0, 0, 0)]
    [InlineData(65, 65, 2, 1, 65, 0, 0, 0, 3)]
    [InlineData(127, 127, 1, 1, 128, 0, 0, 0, 0)]
    [InlineData(128, 128, 12, 12, 64, 0, 0, 0, 0)]
    [InlineData(33, 127, 8, 2, 128, 94, 0, 0, 0)]
    [InlineData(1, 1000, 8, 4, 8, 999, 0, 0, 0)]
    [InlineData(1, 2048, 4, 1, 128, 2047, 0, 0, 0)]
    [InlineData(3, 65, 12, 12, 64, 62, 0, 0, 0)]
    [InlineData(65, 65, 3, 1, 64, 0, 16, 0, 0)]
    [InlineData(40, 100, 2, 2, 32, 60, 7, 0, 0)]
    [InlineData(1, 300, 2, 2, 16, 299, 64, 0, 0)]
    [InlineData(63, 63, 4, 2, 16, 0, 0, 5, 0)]
    [InlineData(70, 70, 8, 2, 8, 0, 0, 3, 5)]
    [InlineData(20, 20, 8, 4, 8, 0, 4, 17, 0)]
    [InlineData(5, 3, 2, 1, 16, 0, 0, 0, 0)]
    [InlineData(50, 50, 2, 2, 12, 0, 0, 0, 1)]
    [InlineData(1, 77, 2, 1, 24, 76, 0, 4, 0)]
    [InlineData(3, 77, 4, 1, 40, 74, 0, 0, 0)]
    [InlineData(31, 200, 2, 1, 72, 169, 50, 0, 0)]
    [InlineData(3, 90, 4, 2, 128, 87, 3, 87, 0)]
    public void ForwardMatchesReference(int queries, int keys, int heads, int kvHeads, int headDim, int firstPos, int window, int leftPad, int pad)
    {
        var s = MakeShape(queries, keys, heads, kvHeads, headDim, firstPos, window, leftPad);
        var x = Inputs.Random(s, (ulong)(queries * 1000 + keys), pad, pad);
        var got = RunForward(x);
        var want = ReferenceAttention.Forward(s, x.Q, x.QStride, x.K, x.V, x.KvStride);

        Assert.InRange(RelativeError(got.Z, want.Z), 0, Tolerance);
        Assert.InRange(RelativeError(got.Scores, want.Scores), 0, Tolerance); // also demands −∞ exactly where masked
        Assert.InRange(RelativeError(got.Pattern, want.Pattern), 0, Tolerance);
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < queries; i++)
            {
                double sum = 0;
                bool anyVisible = false;
                for (int j = 0; j < keys; j++)
                {
                    float p = got.Pattern[(h * queries + i) * keys + j];
                    if (s.Visible(i, j)) anyVisible = true;
                    else Assert.Equal(0f, p);
                    sum += p;
                }
                Assert.Equal(anyVisible ? 1.0 : 0.0, sum, 1e-6);
            }

        // The fused path without the optional outputs must give the same z, bit for bit.
        Assert.Equal(got.Z, RunForward(x, withScoresAndPattern: false).Z);
    }

    [Fact]
    public void UnitScaleWithPeakedScoresMatchesReference()
    {
        // GPT-Neo passes scale 1: scores of tens, softmax rows close to one-hot; only the pattern is asked for.
        var s = new Shape(60, 60, 3, 3, 64, 1.0, SlidingWindow: 25);
        var x = Inputs.Random(s, 31, std: 1.2f);
        var z = new float[60 * s.QueryWidth];
        var pattern = new float[3 * 60 * 60];
        Attention.Forward(x.Q, x.QStride, x.K, x.V, x.KvStride, z, s.QueryWidth, 60, 60, 3, 3, 64, 1f, x.Mask, pattern: pattern);
        var want = ReferenceAttention.Forward(s, x.Q, x.QStride, x.K, x.V, x.KvStride);
        Assert.Contains(want.Scores, v => v > 20);
        Assert.InRange(RelativeError(z, want.Z), 0, Tolerance);
        Assert.InRange(RelativeError(pattern, want.Pattern), 0, Tolerance);
    }

    [Theory]
    [InlineData(65, 65, 12, 12, 64, 0, 0, 0)]
    [InlineData(33, 127, 8, 2, 128, 94, 0, 3)]
    [InlineData(1, 500, 4, 4, 64, 499, 0, 0)]
    [InlineData(50, 50, 3, 1, 8, 0, 9, 4)]
    [InlineData(2, 300, 8, 2, 128, 298, 100, 0)]
    public void UnfusedStepsEqualForward(int queries, int keys, int heads, int kvHeads, int headDim, int firstPos, int window, int leftPad)
    {
        var s = MakeShape(queries, keys, heads, kvHeads, headDim, firstPos, window, leftPad);
        var x = Inputs.Random(s, 7, 2, 1);
        var fused = RunForward(x);

        var scores = new float[s.Heads * queries * keys];
        Attention.Scores(x.Q, x.QStride, x.K, x.KvStride, scores, queries, keys, heads, kvHeads, headDim, (float)s.Scale, x.Mask);
        var pattern = new float[scores.Length];
        Attention.ScoresToPattern(scores, pattern, heads, queries, keys, x.Mask);
        var z = new float[queries * s.QueryWidth];
        Attention.ApplyPattern(pattern, x.V, x.KvStride, z, s.QueryWidth, queries, keys, heads, kvHeads, headDim);

        Assert.InRange(RelativeError(scores, fused.Scores), 0, 1e-6);
        Assert.InRange(RelativeError(pattern, fused.Pattern), 0, 1e-6);
        Assert.InRange(RelativeError(z, fused.Z), 0, 1e-6);

        // In place: the pattern may overwrite the scores.
        Attention.ScoresToPattern(scores, scores, heads, queries, keys, x.Mask);
        Assert.Equal(pattern, scores);
    }

    [Fact]
    public void CausalScoresThroughSoftmaxCausalRowsGiveForwardPattern()
    {
        var s = MakeShape(40, 40, 2, 2, 16, 0, 0, 0);
        var x = Inputs.Random(s, 11);
        var scores = new float[2 * 40 * 40];
        Attention.Scores(x.Q, x.QStride, x.K, x.KvStride, scores, 40, 40, 2, 2, 16, (float)s.Scale, x.Mask);
        for (int h = 0; h < 2; h++) Softmax.CausalRows(scores.AsSpan(h * 1600, 1600), 40, 40, 0);
        Assert.InRange(RelativeError(scores, RunForward(x).Pattern), 0, 1e-6);
    }

    [Fact]
    public void EditedScoresAndPatternAreHonoured()
    {
        var s = MakeShape(30, 30, 2, 1, 16, 0, 8, 2);
        var x = Inputs.Random(s, 5);
        var scores = RunForward(x).Scores;
        scores[(1 * 30 + 20) * 30 + 19] += 5;                   // boost a visible score
        scores[(0 * 30 + 10) * 30 + 25] = 100;                  // a masked (future) entry must stay masked
        for (int j = 0; j < 30; j++) scores[(0 * 30 + 12) * 30 + j] = float.NegativeInfinity; // a row a hook blanked
        var pattern = new float[scores.Length];
        Attention.ScoresToPattern(scores, pattern, 2, 30, 30, x.Mask);
        Assert.InRange(RelativeError(pattern, ReferenceAttention.ScoresToPattern(s, scores)), 0, Tolerance);
        for (int j = 0; j < 30; j++) Assert.Equal(0f, pattern[(0 * 30 + 12) * 30 + j]);

        pattern[(1 * 30 + 3) * 30 + 29] = 0.5f;                 // weight on a future key: ApplyPattern counts it
        pattern[(0 * 30 + 29) * 30 + 0] = 0.25f;                // and on a padding key
        var z = new float[30 * s.QueryWidth];
        Attention.ApplyPattern(pattern, x.V, x.KvStride, z, s.QueryWidth, 30, 30, 2, 1, 16);
        Assert.InRange(RelativeError(z, ReferenceAttention.ApplyPattern(s, pattern, x.V, x.KvStride)), 0, Tolerance);
    }

    [Fact]
    public void FusedQkvBufferWithWideRowsAndStridedZ()
    {
        const int T = 45, H = 6, G = 2, D = 32;
        int width = (H + 2 * G) * D + 7;
        var qkv = new float[T * width];
        new SeededRandom(3).FillNormal(qkv, 1f);
        var s = MakeShape(T, T, H, G, D, 0, 0, 0);
        int zStride = H * D + 5;
        var z = new float[T * zStride];
        z.AsSpan().Fill(-7f);
        Attention.Forward(qkv, width, qkv.AsSpan(H * D), qkv.AsSpan((H + G) * D), width, z, zStride, T, T, H, G, D, (float)s.Scale, default);
        var want = ReferenceAttention.Forward(s, qkv, width, qkv.AsSpan(H * D), qkv.AsSpan((H + G) * D), width);
        var dense = new float[T * H * D];
        for (int i = 0; i < T; i++)
        {
            z.AsSpan(i * zStride, H * D).CopyTo(dense.AsSpan(i * H * D));
            for (int c = H * D; c < zStride; c++) Assert.Equal(-7f, z[i * zStride + c]); // padding columns untouched
        }
        Assert.InRange(RelativeError(dense, want.Z), 0, Tolerance);
    }

    [Fact]
    public void QueryThatSeesNothingGetsZerosNotNaN()
    {
        // Keys 0..9 are padding; the first 10 queries see nothing, query 12 sees keys 10..12 only.
        var s = MakeShape(40, 40, 4, 2, 64, 0, 0, 10);
        var got = RunForward(Inputs.Random(s, 9));
        for (int h = 0; h < 4; h++)
            for (int i = 0; i < 10; i++)
            {
                for (int c = 0; c < 64; c++) Assert.Equal(0f, got.Z[i * s.QueryWidth + h * 64 + c]);
                for (int j = 0; j < 40; j++)
                {
                    Assert.Equal(0f, got.Pattern[(h * 40 + i) * 40 + j]);
                    Assert.Equal(float.NegativeInfinity, got.Scores[(h * 40 + i) * 40 + j]);
                }
            }
        Assert.DoesNotContain(got.Z, float.IsNaN);
        Assert.DoesNotContain(got.Pattern, float.IsNaN);

        // No keys at all.
        var z = new float[3 * 8];
        Attention.Forward(new float[3 * 8], 8, [], [], 8, z, 8, 3, 0, 1, 1, 8, 1f, default);
        Assert.All(z, value => Assert.Equal(0f, value));
    }

    [Theory]
    [InlineData(40, 40, 0)]  // packed-key path
    [InlineData(1, 90, 89)]  // decode path
    public void NaNInOneQueryStaysInThatQuery(int queries, int keys, int firstPos)
    {
        var s = MakeShape(queries, keys, 3, 1, 16, firstPos, 0, 2);
        var x = Inputs.Random(s, 13);
        var clean = RunForward(x);
        int row = queries - 1, head = 1;
        x.Q[row * x.QStride + head * 16 + 5] = float.NaN;
        var got = RunForward(x);
        for (int h = 0; h < 3; h++)
            for (int i = 0; i < queries; i++)
            {
                bool poisoned = h == head && i == row;
                for (int c = 0; c < 16; c++)
                {
                    int at = i * s.QueryWidth + h * 16 + c;
                    if (poisoned) Assert.True(float.IsNaN(got.Z[at]));
                    else Assert.Equal(clean.Z[at], got.Z[at]);
                }
                for (int j = 0; j < keys; j++)
                {
                    int at = (h * queries + i) * keys + j;
                    if (!s.Visible(i, j)) Assert.Equal(0f, got.Pattern[at]);
                    else if (poisoned) Assert.True(float.IsNaN(got.Pattern[at]));
                    else Assert.Equal(clean.Pattern[at], got.Pattern[at]);
                }
            }
    }

    [Theory]
    [InlineData(7, 7, 3, 3, 8, 0, 0, 0, 0)]
    [InlineData(33, 40, 4, 2, 16, 7, 0, 2, 3)]
    [InlineData(65, 65, 2, 1, 65, 0, 16, 0, 0)]
    [InlineData(1, 30, 4, 2, 32, 29, 0, 0, 0)]
    [InlineData(64, 64, 12, 12, 64, 0, 0, 0, 0)]
    [InlineData(37, 37, 8, 2, 128, 0, 5, 3, 1)]
    public void BackwardMatchesReference(int queries, int keys, int heads, int kvHeads, int headDim, int firstPos, int window, int leftPad, int pad)
    {
        var s = MakeShape(queries, keys, heads, kvHeads, headDim, firstPos, window, leftPad);
        var x = Inputs.Random(s, (ulong)(queries + 31 * keys), pad, pad);
        var dz = new float[queries * s.QueryWidth];
        new SeededRandom(99).FillNormal(dz, 1f);
        var pattern = RunForward(x).Pattern;

        // Gradients into a strided dQKV-like buffer: dq at stride qStride, dk and dv interleaved at one stride.
        int dkvStride = 2 * s.KvWidth + pad;
        var dq = new float[queries * x.QStride];
        var dkv = new float[keys * dkvStride];
        dq.AsSpan().Fill(float.NaN);
        dkv.AsSpan().Fill(float.NaN);
        Attention.Backward(x.Q, x.QStride, x.K, x.V, x.KvStride, pattern, dz, s.QueryWidth,
            dq, x.QStride, dkv, dkv.AsSpan(s.KvWidth), dkvStride,
            queries, keys, heads, kvHeads, headDim, (float)s.Scale, x.Mask);

        var want = ReferenceAttention.Backward(s, ReferenceAttention.ToDouble(x.Q), x.QStride,
            ReferenceAttention.ToDouble(x.K), ReferenceAttention.ToDouble(x.V), x.KvStride, ReferenceAttention.ToDouble(dz));
        Assert.InRange(RelativeError(Dense(dq, queries, x.QStride, 0, s.QueryWidth), want.DQ), 0, Tolerance);
        Assert.InRange(RelativeError(Dense(dkv, keys, dkvStride, 0, s.KvWidth), want.DK), 0, Tolerance);
        Assert.InRange(RelativeError(Dense(dkv, keys, dkvStride, s.KvWidth, s.KvWidth), want.DV), 0, Tolerance);
    }

    private static float[] Dense(float[] x, int rows, int stride, int offset, int width)
    {
        var d = new float[rows * width];
        for (int r = 0; r < rows; r++) x.AsSpan(r * stride + offset, width).CopyTo(d.AsSpan(r * width));
        return d;
    }

    /// <summary>
    /// Gemma 2's attention-logit soft cap: fused forward, the unfused steps and backward against the reference, with a
    /// cap small enough that most visible scores are bent (std 2 inputs give scores of several units).
    /// </summary>
    [Theory]
    [InlineData(7, 7, 3, 3, 8, 0, 0, 0, 1.5)]
    [InlineData(33, 40, 4, 2, 16, 7, 5, 2, 2.0)]
    [InlineData(65, 65, 2, 1, 65, 0, 16, 0, 0.75)]
    [InlineData(1, 30, 4, 2, 32, 29, 0, 0, 3.0)]
    [InlineData(37, 37, 8, 2, 128, 0, 5, 3, 1.25)]
    public void SoftCappedScoresMatchReference(int queries, int keys, int heads, int kvHeads, int headDim, int firstPos, int window, int leftPad, double cap)
    {
        var s = MakeShape(queries, keys, heads, kvHeads, headDim, firstPos, window, leftPad) with { SoftCap = cap };
        var x = Inputs.Random(s, (ulong)(queries * 7 + keys), 1, 2, std: 2f);
        var got = RunForward(x);
        var want = ReferenceAttention.Forward(s, x.Q, x.QStride, x.K, x.V, x.KvStride);
        var uncapped = ReferenceAttention.Forward(s with { SoftCap = 0 }, x.Q, x.QStride, x.K, x.V, x.KvStride);
        Assert.Contains(uncapped.Scores, v => double.IsFinite(v) && Math.Abs(v) > 1.5 * cap); // the cap bites
        Assert.All(got.Scores, v => Assert.True(float.IsNegativeInfinity(v) || Math.Abs(v) <= cap));
        Assert.InRange(RelativeError(got.Z, want.Z), 0, Tolerance);
        Assert.InRange(RelativeError(got.Scores, want.Scores), 0, Tolerance);
        Assert.InRange(RelativeError(got.Pattern, want.Pattern), 0, Tolerance);

        // The hookable steps: capped scores from Scores, identical to the fused kernel's.
        var scores = new float[heads * queries * keys];
        Attention.Scores(x.Q, x.QStride, x.K, x.KvStride, scores, queries, keys, heads, kvHeads, headDim, (float)s.Scale, x.Mask, (float)cap);
        Assert.InRange(RelativeError(scores, got.Scores), 0, 1e-6);

        var dz = new float[queries * s.QueryWidth];
        new SeededRandom(5).FillNormal(dz, 1f);
        var dq = new float[queries * x.QStride];
        var dk = new float[keys * x.KvStride];
        var dv = new float[keys * x.KvStride];
        Attention.Backward(x.Q, x.QStride, x.K, x.V, x.KvStride, got.Pattern, dz, s.QueryWidth, dq, x.QStride, dk, dv, x.KvStride,
            queries, keys, heads, kvHeads, headDim, (float)s.Scale, x.Mask, (float)cap);
        var wantGrad = ReferenceAttention.Backward(s, ReferenceAttention.ToDouble(x.Q), x.QStride,
            ReferenceAttention.ToDouble(x.K), ReferenceAttention.ToDouble(x.V), x.KvStride, ReferenceAttention.ToDouble(dz));
        Assert.InRange(RelativeError(Dense(dq, queries, x.QStride, 0, s.QueryWidth), wantGrad.DQ), 0, Tolerance);
        Assert.InRange(RelativeError(Dense(dk, keys, x.KvStride, 0, s.KvWidth), wantGrad.DK), 0, Tolerance);
        Assert.InRange(RelativeError(Dense(dv, keys, x.KvStride, 0, s.KvWidth), wantGrad.DV), 0, Tolerance);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(0.8)]
    public void ReferenceBackwardMatchesFiniteDifferences(double softCap)
    {
        var valid = new[] { false, true, true, true, true, true, true };
        var s = new Shape(5, 7, 4, 2, 3, 0.7, FirstQueryPosition: 2, SlidingWindow: 4, KeyValid: valid, SoftCap: softCap);
        var rng = new SeededRandom(21);
        double[] Normal(int n) { var a = new double[n]; for (int i = 0; i < n; i++) a[i] = rng.NextNormal(); return a; }
        double[] q = Normal(5 * s.QueryWidth), k = Normal(7 * s.KvWidth), v = Normal(7 * s.KvWidth), dz = Normal(5 * s.QueryWidth);
        var analytic = ReferenceAttention.Backward(s, q, s.QueryWidth, k, v, s.KvWidth, dz);

        double Loss()
        {
            var z = ReferenceAttention.Forward(s, q, s.QueryWidth, k, v, s.KvWidth).Z;
            double l = 0;
            for (int i = 0; i < z.Length; i++) l += z[i] * dz[i];
            return l;
        }
        void Check(double[] x, double[] gradient)
        {
            const double h = 1e-5;
            for (int i = 0; i < x.Length; i++)
            {
                double keep = x[i];
                x[i] = keep + h;
                double up = Loss();
                x[i] = keep - h;
                double down = Loss();
                x[i] = keep;
                Assert.Equal((up - down) / (2 * h), gradient[i], 1e-7);
            }
        }
        Check(q, analytic.DQ);
        Check(k, analytic.DK);
        Check(v, analytic.DV);
        Assert.Contains(analytic.DK, g => Math.Abs(g) > 1e-3); // the check is not vacuous
        Assert.All(analytic.DK.AsSpan(0, s.KvWidth).ToArray(), g => Assert.Equal(0.0, g)); // padding key: no gradient
    }

    [Fact]
    public void OneAndTwoThreadsAgreeBitForBit()
    {
        var s = MakeShape(130, 130, 12, 4, 64, 0, 0, 3);
        var x = Inputs.Random(s, 17);
        var dz = new float[130 * s.QueryWidth];
        new SeededRandom(18).FillNormal(dz, 1f);
        int saved = WorkerPool.MaxThreads;
        try
        {
            WorkerPool.MaxThreads = 1;
            var (one, oneGrads) = ForwardAndBackward(x, dz);
            WorkerPool.MaxThreads = 2;
            var (two, twoGrads) = ForwardAndBackward(x, dz);
            Assert.Equal(one.Z, two.Z);
            Assert.Equal(one.Scores, two.Scores);
            Assert.Equal(one.Pattern, two.Pattern);
            Assert.Equal(oneGrads, twoGrads);
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
    }

    private static (Outputs, float[]) ForwardAndBackward(Inputs x, float[] dz)
    {
        var s = x.S;
        var o = RunForward(x);
        var grads = new float[s.Queries * s.QueryWidth + 2 * s.Keys * s.KvWidth];
        var dq = grads.AsSpan(0, s.Queries * s.QueryWidth);
        var dk = grads.AsSpan(dq.Length, s.Keys * s.KvWidth);
        var dv = grads.AsSpan(dq.Length + dk.Length);
        Attention.Backward(x.Q, x.QStride, x.K, x.V, x.KvStride, o.Pattern, dz, s.QueryWidth, dq, s.QueryWidth, dk, dv, s.KvWidth,
            s.Queries, s.Keys, s.Heads, s.KvHeads, s.HeadDim, (float)s.Scale, x.Mask);
        return (o, grads);
    }

    [Fact]
    public void CallsFromInsideAParallelRegionMatchSequentialCalls()
    {
        // A model runs one attention call per batch item from inside its own parallel loop.
        var inputs = Enumerable.Range(0, 6).Select(b => Inputs.Random(MakeShape(70, 70, 4, 2, 64, 0, 0, b), (ulong)(100 + b))).ToArray();
        var sequential = inputs.Select(x => RunForward(x)).ToArray();
        var nested = new Outputs[inputs.Length];
        int saved = WorkerPool.MaxThreads;
        try
        {
            WorkerPool.MaxThreads = 2;
            WorkerPool.For(inputs.Length, b => nested[b] = RunForward(inputs[b]));
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
        for (int b = 0; b < inputs.Length; b++)
        {
            Assert.Equal(sequential[b].Z, nested[b].Z);
            Assert.Equal(sequential[b].Pattern, nested[b].Pattern);
        }
    }

    [Fact]
    public void SteadyStateForwardAllocatesNothing()
    {
        var s = MakeShape(128, 128, 12, 12, 64, 0, 0, 0);
        var x = Inputs.Random(s, 23);
        var z = new float[128 * s.QueryWidth];
        int saved = WorkerPool.MaxThreads;
        try
        {
            WorkerPool.MaxThreads = 1;
            void Call() => Attention.Forward(x.Q, x.QStride, x.K, x.V, x.KvStride, z, s.QueryWidth, 128, 128, 12, 12, 64, (float)s.Scale, x.Mask);
            Assert.Equal(0, SteadyStateAllocations.Measure(Call, callsPerWindow: 2)); // the first call grows this thread's scratch
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        var buf = new float[64];
        Assert.Throws<ArgumentException>(() => Attention.Forward(buf, 8, buf, buf, 8, buf, 8, 4, 4, 3, 2, 2, 1f, default)); // 3 % 2
        Assert.Throws<ArgumentException>(() => Attention.Forward(buf, 8, buf, buf, 8, buf, 8, 9, 4, 1, 1, 8, 1f, default)); // q too short
        Assert.Throws<ArgumentException>(() => Attention.Forward(buf, 4, buf, buf, 8, buf, 8, 4, 4, 1, 1, 8, 1f, default)); // stride < width
        Assert.Throws<ArgumentException>(() => Attention.Forward(buf, 8, buf, buf, 8, buf, 8, 4, 4, 1, 1, 8, 1f, default, scores: new float[15]));
        Assert.Throws<ArgumentException>(() => Attention.Forward(buf, 8, buf, buf, 8, buf, 8, 4, 4, 1, 1, 8, 1f, new AttentionMask { KeyValid = new bool[3] }));
    }

    [Theory]
    [InlineData(4, 4, 12, 23), InlineData(4, 2, 13, 19), InlineData(8, 2, 20, 37), InlineData(2, 1, 64, 40), InlineData(4, 4, 76, 9)]
    public void OneQueryOnItsOwnGivesTheBitsOfItsRowInTheWholePass(int heads, int kvHeads, int headDim, int tokens)
    {
        // A row run alone (one query after its keys, as a decode step or the last block at read rows runs it) with the
        // whole pass's query count as PathQueries must equal that row of the whole pass exactly: ablation and patching
        // effects subtract such runs.
        var rng = new SeededRandom((ulong)(heads * 100 + headDim));
        int qw = heads * headDim, kvw = kvHeads * headDim;
        float[] Fill(int n)
        {
            var a = new float[n];
            for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
            return a;
        }
        var q = Fill(tokens * qw);
        var k = Fill(tokens * kvw);
        var v = Fill(tokens * kvw);
        var whole = new float[tokens * qw];
        Attention.Forward(q, qw, k, v, kvw, whole, qw, tokens, tokens, heads, kvHeads, headDim, 0.3f, default);
        foreach (int t in new[] { 0, 1, tokens / 2, tokens - 2, tokens - 1 })
        {
            var alone = new float[qw];
            Attention.Forward(q.AsSpan(t * qw, qw), qw, k.AsSpan(0, (t + 1) * kvw), v.AsSpan(0, (t + 1) * kvw), kvw, alone, qw,
                1, t + 1, heads, kvHeads, headDim, 0.3f, new AttentionMask { FirstQueryPosition = t, PathQueries = tokens });
            Assert.Equal(whole.AsSpan(t * qw, qw).ToArray(), alone);
        }
    }
}
