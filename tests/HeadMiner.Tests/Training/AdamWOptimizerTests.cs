using HeadMiner.Tensors;
using HeadMiner.Tests.Reference;
using HeadMiner.Training;

namespace HeadMiner.Tests.Training;

public class AdamWOptimizerTests
{
    private const double Beta1 = 0.9, Beta2 = 0.95, Epsilon = 1e-8, WeightDecay = 0.1;

    /// <summary>The textbook update (Loshchilov &amp; Hutter, Algorithm 2 with PyTorch's placement of the decay), in double.</summary>
    private sealed class ReferenceAdamW(double[] value, bool decay)
    {
        public readonly double[] Value = value;
        private readonly double[] _m = new double[value.Length], _v = new double[value.Length];
        private int _t;

        public void Step(ReadOnlySpan<float> gradient, double lr)
        {
            _t++;
            for (int i = 0; i < Value.Length; i++)
            {
                double g = gradient[i];
                if (decay) Value[i] -= lr * WeightDecay * Value[i];
                _m[i] = Beta1 * _m[i] + (1 - Beta1) * g;
                _v[i] = Beta2 * _v[i] + (1 - Beta2) * g * g;
                double mHat = _m[i] / (1 - Math.Pow(Beta1, _t));
                double vHat = _v[i] / (1 - Math.Pow(Beta2, _t));
                Value[i] -= lr * mHat / (Math.Sqrt(vHat) + Epsilon);
            }
        }
    }

    private static TrainableParameter Parameter(string name, ulong seed, int[] shape, bool decay = true) =>
        new(name, Tensor.RandomNormal(seed, 1f, shape), Tensor.Zeros(shape), decay);

    private static AdamW Optimizer(IEnumerable<TrainableParameter> parameters, double weightDecay = WeightDecay) =>
        new(parameters, Beta1, Beta2, Epsilon, weightDecay);

    private static double[] AsDouble(Tensor t) => t.ToArray().Select(v => (double)v).ToArray();

    [Fact]
    public void OneStepMatchesTheFormula()
    {
        var p = Parameter("w", 1, [4, 6]);
        Inputs.Normal(2, 24, std: 0.3f).CopyTo(p.Gradient.Span);
        var initial = p.Value.ToArray();
        var gradient = p.Gradient.ToArray();
        const double lr = 3e-3;
        Optimizer([p]).Step(lr);
        // At t = 1 the bias corrections make m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε) after the decay.
        var expected = initial.Select((w, i) => w * (1 - lr * WeightDecay) - lr * gradient[i] / (Math.Abs(gradient[i]) + Epsilon)).ToArray();
        Close.Elementwise(p.Value.Span, expected, rtol: 1e-6, atol: 1e-9, what: "AdamW step 1");
    }

    [Fact]
    public void SeveralStepsMatchADoublePrecisionReference()
    {
        // 2,500 elements cross the optimizer's chunk boundary; the no-decay bias checks both branches.
        var weight = Parameter("weight", 3, [50, 50]);
        var bias = Parameter("bias", 4, [7], decay: false);
        var refWeight = new ReferenceAdamW(AsDouble(weight.Value), decay: true);
        var refBias = new ReferenceAdamW(AsDouble(bias.Value), decay: false);
        var optimizer = Optimizer([weight, bias]);
        var schedule = new LearningRateSchedule(1e-2, warmupSteps: 3, totalSteps: 12);
        for (int step = 0; step < 12; step++)
        {
            Inputs.Normal(100 + (ulong)step, weight.Value.Length, std: 0.5f).CopyTo(weight.Gradient.Span);
            Inputs.Normal(200 + (ulong)step, bias.Value.Length, std: 2f).CopyTo(bias.Gradient.Span);
            double lr = schedule.At(step);
            optimizer.Step(lr);
            refWeight.Step(weight.Gradient.Span, lr);
            refBias.Step(bias.Gradient.Span, lr);
            Close.Elementwise(weight.Value.Span, refWeight.Value, rtol: 1e-5, atol: 1e-6, what: $"weight after step {step + 1}");
            Close.Elementwise(bias.Value.Span, refBias.Value, rtol: 1e-5, atol: 1e-6, what: $"bias after step {step + 1}");
        }
        Assert.Equal(12, optimizer.StepCount);
    }

    [Fact]
    public void NoDecayParametersIgnoreWeightDecay()
    {
        var decayed = Parameter("decayed", 5, [33]);
        var exempt = Parameter("exempt", 5, [33], decay: false);
        var control = Parameter("control", 5, [33]);
        var withDecay = Optimizer([decayed, exempt]);
        var withoutDecay = Optimizer([control], weightDecay: 0);
        for (int step = 0; step < 5; step++)
        {
            foreach (var p in new[] { decayed, exempt, control }) Inputs.Normal(300 + (ulong)step, 33).CopyTo(p.Gradient.Span);
            withDecay.Step(1e-2);
            withoutDecay.Step(1e-2);
        }
        Assert.Equal(control.Value.ToArray(), exempt.Value.ToArray()); // bit for bit: the decay never touched it
        Assert.NotEqual(control.Value.ToArray(), decayed.Value.ToArray());
    }

    [Fact]
    public void ZeroGradientLeavesOnlyTheDecay()
    {
        var p = Parameter("w", 6, [10]);
        var initial = p.Value.ToArray();
        const double lr = 0.5;
        Optimizer([p]).Step(lr);
        Close.Elementwise(p.Value.Span, initial.Select(w => w * (1 - lr * WeightDecay)).ToArray(), rtol: 1e-7, what: "decay only");
    }

    [Fact]
    public void SavedStateContinuesIdentically()
    {
        int[] shape = [3, 40];
        var straight = Parameter("w", 7, shape);
        var straightOptimizer = Optimizer([straight]);
        void Gradient(TrainableParameter p, int step) => Inputs.Normal(400 + (ulong)step, p.Value.Length).CopyTo(p.Gradient.Span);

        var first = Parameter("w", 7, shape);
        var firstOptimizer = Optimizer([first]);
        for (int step = 0; step < 4; step++)
        {
            Gradient(straight, step);
            straightOptimizer.Step(1e-2);
            Gradient(first, step);
            firstOptimizer.Step(1e-2);
        }
        // What a checkpoint holds: parameter values, the step count and copies of the named state tensors.
        var saved = firstOptimizer.StateTensors().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        Assert.Equal(["w.exp_avg", "w.exp_avg_sq"], saved.Keys.Order());
        var resumed = new TrainableParameter("w", first.Value.Clone(), Tensor.Zeros(shape));
        var resumedOptimizer = Optimizer([resumed]);
        resumedOptimizer.RestoreState(firstOptimizer.StepCount, saved);
        Assert.Equal(4, resumedOptimizer.StepCount);

        for (int step = 4; step < 9; step++)
        {
            Gradient(straight, step);
            straightOptimizer.Step(1e-2);
            Gradient(resumed, step);
            resumedOptimizer.Step(1e-2);
        }
        Assert.Equal(straight.Value.ToArray(), resumed.Value.ToArray());
    }

    [Fact]
    public void RestoreRejectsStateOfAnotherModel()
    {
        var optimizer = Optimizer([Parameter("w", 8, [2, 3])]);
        var good = optimizer.StateTensors().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());

        var missing = new Dictionary<string, Tensor>(good);
        missing.Remove("w.exp_avg_sq");
        Assert.Contains("w.exp_avg_sq is missing", Assert.Throws<HeadMinerException>(() => optimizer.RestoreState(1, missing)).Message);

        var wrongShape = new Dictionary<string, Tensor>(good) { ["w.exp_avg"] = Tensor.Zeros(3, 2) };
        Assert.Contains("[3, 2]", Assert.Throws<HeadMinerException>(() => optimizer.RestoreState(1, wrongShape)).Message);

        var extra = new Dictionary<string, Tensor>(good) { ["v.exp_avg"] = Tensor.Zeros(1) };
        Assert.Contains("v.exp_avg", Assert.Throws<HeadMinerException>(() => optimizer.RestoreState(1, extra)).Message);
        Assert.Equal(0, optimizer.StepCount); // a rejected state changes nothing
    }

    [Fact]
    public void StepsAllocateNothing()
    {
        var p = Parameter("w", 9, [3000]);
        Inputs.Normal(10, 3000).CopyTo(p.Gradient.Span);
        var optimizer = Optimizer([p, Parameter("b", 11, [5], decay: false)]);
        Assert.Equal(0, SteadyStateAllocations.Measure(() => optimizer.Step(1e-3), callsPerWindow: 20));
    }

    [Fact]
    public void InvalidSettingsAndParametersAreRejected()
    {
        var p = Parameter("w", 12, [4]);
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW([p], beta1: 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW([p], beta2: -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW([p], weightDecay: double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW([p]).Step(double.NaN));
        Assert.Throws<ArgumentException>(() => new AdamW([p, Parameter("w", 13, [4])]));
        Assert.Throws<ArgumentException>(() => new AdamW([new TrainableParameter("x", Tensor.Zeros(4), Tensor.Zeros(2, 2))]));
        var strided = Tensor.Zeros(4, 4).Transpose(0, 1);
        Assert.Throws<ArgumentException>(() => new AdamW([new TrainableParameter("x", strided, Tensor.Zeros(4, 4))]));
    }
}
