using HeadMiner.Tensors;

namespace HeadMiner.Models.Generation;

/// <summary>
/// Chooses the next token from a row of logits. Temperature 0 is greedy (the first maximum wins, as in llama2.c);
/// otherwise softmax(logits / T), restricted to the top-k tokens and then to the smallest set whose probability
/// reaches top-p, sampled from a seeded generator so that a seed reproduces a generation exactly.
/// </summary>
public sealed class Sampler
{
    private readonly SeededRandom _rng;
    private float[] _probs = [];
    private int[] _order = [];

    public float Temperature { get; }
    public int TopK { get; }
    public float TopP { get; }

    public Sampler(float temperature = 0f, int topK = 0, float topP = 1f, ulong seed = 0)
    {
        if (temperature < 0 || float.IsNaN(temperature)) throw new HeadMinerException($"temperature {temperature} must be ≥ 0");
        if (topK < 0) throw new HeadMinerException($"top-k {topK} must be ≥ 0 (0 = off)");
        if (!(topP > 0 && topP <= 1)) throw new HeadMinerException($"top-p {topP} must be in (0, 1]");
        Temperature = temperature;
        TopK = topK;
        TopP = topP;
        _rng = new SeededRandom(seed);
    }

    public int Next(ReadOnlySpan<float> logits)
    {
        if (Temperature == 0) return ArgMax(logits);
        int n = logits.Length;
        if (_probs.Length != n)
        {
            _probs = new float[n];
            _order = new int[n];
        }
        float max = float.NegativeInfinity;
        foreach (float v in logits) max = MathF.Max(max, v);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += _probs[i] = MathF.Exp((logits[i] - max) / Temperature);
        for (int i = 0; i < n; i++) _order[i] = i;

        int candidates = n;
        if (TopK > 0 || TopP < 1)
        {
            // Sort by probability, descending (ties by id for determinism).
            var probs = _probs;
            Array.Sort(_order, (a, b) => probs[b] != probs[a] ? probs[b].CompareTo(probs[a]) : a.CompareTo(b));
            if (TopK > 0) candidates = Math.Min(candidates, TopK);
            if (TopP < 1)
            {
                double kept = 0, total = 0;
                for (int i = 0; i < candidates; i++) total += _probs[_order[i]];
                for (int i = 0; i < candidates; i++)
                {
                    kept += _probs[_order[i]];
                    if (kept >= TopP * total)
                    {
                        candidates = i + 1;
                        break;
                    }
                }
            }
            sum = 0;
            for (int i = 0; i < candidates; i++) sum += _probs[_order[i]];
        }
        double r = _rng.NextDouble() * sum, acc = 0;
        for (int i = 0; i < candidates; i++)
        {
            acc += _probs[_order[i]];
            if (r < acc) return _order[i];
        }
        return _order[candidates - 1];
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}
