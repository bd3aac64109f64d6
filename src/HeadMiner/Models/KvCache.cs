namespace HeadMiner.Models;

/// <summary>
/// Keys and values of the tokens seen so far, per layer, for incremental decoding of one sequence:
/// K and V of layer l are [capacity, kvHeads·dHead], rows [0, Length) filled (after rotary).
/// </summary>
public sealed class KvCache
{
    private readonly float[][] _keys;
    private readonly float[][] _values;

    public int Capacity { get; }
    public int KvWidth { get; }

    /// <summary>Tokens already processed (the position of the next token).</summary>
    public int Length { get; internal set; }

    public KvCache(ModelConfig config, int capacity)
    {
        if (capacity <= 0 || capacity > config.ContextLength)
            throw new HeadMinerException($"KV cache capacity {capacity} must be in [1, {config.ContextLength}] (the model's context length)");
        Capacity = capacity;
        KvWidth = config.KvHeads * config.DHead;
        _keys = new float[config.Layers][];
        _values = new float[config.Layers][];
        for (int l = 0; l < config.Layers; l++)
        {
            _keys[l] = new float[capacity * KvWidth];
            _values[l] = new float[capacity * KvWidth];
        }
    }

    public Span<float> Keys(int layer) => _keys[layer];
    public Span<float> Values(int layer) => _values[layer];

    public void Clear() => Length = 0;
}
