using HeadMiner.Analysis.Truth;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// What every planted circuit kind shares (<see cref="PlantedCircuits"/>): heads placed in (layer, k/v group) slots
/// of their own drawn from the seed, the noise of every other head (random distractors; planted heads and their
/// groups carry small noise), the <see cref="Planter"/> of the trust work, decoys that attend like a planted head but
/// write into spare dimensions, and the graph names of a head's inputs.
/// </summary>
internal sealed class PlantedCircuitBuilder
{
    /// <summary>Decoys write at a quarter of a planted head's size, so the norms they change stay small.</summary>
    public const float DecoyScale = 0.25f;

    private readonly float _plantedNoise, _writeNoise, _noise;
    private readonly bool _relativeWrites;
    private readonly List<(int Layer, int Group)> _free = [];
    private readonly List<(int Layer, int Head)> _taken = [];
    private CircuitGraph? _graph;

    /// <param name="noise">
    /// Scales every noise level (1: those of <see cref="PlantedModels"/>, sized for d_model ≈ 80; wider models with
    /// more layers scale them down, as <see cref="PlantedIoi"/> does, so the noise summed over the residual does not
    /// swamp the planted one-hot entries).
    /// </param>
    /// <param name="relativeWrites">
    /// Taken heads' (and their group mates') W_O noise relative to a unit write (divided by the layer's nominal norm,
    /// as <see cref="PlantedIoi"/> does): their values are one-hot entries of the norm's size, so absolute noise
    /// would write that size times the noise into every dim.
    /// </param>
    public PlantedCircuitBuilder(SeededRandom rng, ModelConfig config, PlantedLayout layout, bool llama, float noise = 1f, bool relativeWrites = false)
    {
        _noise = noise;
        _relativeWrites = relativeWrites;
        _plantedNoise = 0.01f * noise;
        _writeNoise = 0.02f * noise;
        Rng = rng;
        Config = config;
        Layout = layout;
        Llama = llama;
        Planter = new Planter(config, layout, llama);
        for (int l = 0; l < config.Layers; l++)
            for (int g = 0; g < config.KvHeads; g++) _free.Add((l, g));
    }

    public SeededRandom Rng { get; }
    public ModelConfig Config { get; }
    public PlantedLayout Layout { get; }
    public bool Llama { get; }
    public Planter Planter { get; }
    public int Group => Config.Heads / Config.KvHeads;
    public LayerWeights[] Blocks { get; private set; } = [];

    /// <summary>A head in a free k/v group of a layer in [minLayer, maxLayer] (the group is then taken).</summary>
    public (int Layer, int Head) Take(int minLayer, int maxLayer)
    {
        var options = _free.Where(s => s.Layer >= minLayer && s.Layer <= maxLayer).ToList();
        if (options.Count == 0) throw new HeadMinerException($"planted circuits: no free k/v group in layers {minLayer}–{maxLayer}");
        var slot = options[Rng.NextInt(options.Count)];
        _free.Remove(slot);
        var head = (slot.Layer, slot.Group * Group + Rng.NextInt(Group));
        _taken.Add(head);
        return head;
    }

    /// <summary>
    /// The blank layers with every head's noise: distractors get random query/key sizes (mostly diffuse attention)
    /// and writes of N(0, 0.02²); taken heads and their k/v groups small noise, their group mates tiny queries.
    /// </summary>
    public void AddNoise()
    {
        int layers = Config.Layers, heads = Config.Heads, kvHeads = Config.KvHeads;
        bool IsTaken(int l, int h) => _taken.Contains((l, h));
        bool TakenGroup(int l, int g) => _taken.Any(p => p.Layer == l && p.Head / Group == g);
        Blocks = new LayerWeights[layers];
        for (int l = 0; l < layers; l++)
        {
            var b = PlantedModels.BlankLayer(Config, l, "planted-circuit", Rng, _writeNoise);
            for (int h = 0; h < heads; h++)
            {
                float q = IsTaken(l, h) ? _plantedNoise : TakenGroup(l, h / Group) ? 0.02f * _noise : (0.02f + 0.08f * (float)Rng.NextDouble()) * _noise;
                PlantedModels.Fill(Rng, b.W_Q, h, q);
                float o = _relativeWrites && TakenGroup(l, h / Group) ? _plantedNoise / Planter.Nominal(l) : IsTaken(l, h) ? _plantedNoise : _writeNoise;
                PlantedModels.Fill(Rng, b.W_O, h, o);
            }
            for (int g = 0; g < kvHeads; g++)
            {
                float k = TakenGroup(l, g) ? _plantedNoise : (0.02f + 0.08f * (float)Rng.NextDouble()) * _noise;
                PlantedModels.Fill(Rng, b.W_K, g, k);
                PlantedModels.Fill(Rng, b.W_V, g, TakenGroup(l, g) ? _plantedNoise : _writeNoise);
            }
            Blocks[l] = b;
        }
    }

    /// <summary>Plants a catalog head type (<see cref="Planter.Plant"/>) on a taken head.</summary>
    public void Plant((int Layer, int Head) at, string type) => Planter.Plant(Blocks[at.Layer], at.Layer, at.Head, at.Head / Group, type);

    /// <summary>
    /// Plants <paramref name="type"/> on a decoy head, then moves what its OV writes into the token-sized block at
    /// <paramref name="from"/> to the spare block at <paramref name="to"/>, scaled by <see cref="DecoyScale"/>.
    /// </summary>
    public void PlantDecoy((int Layer, int Head) at, string type, int from, int to)
    {
        var b = Blocks[at.Layer];
        var before = b.W_O.Select(0, at.Head).Contiguous().ToArray();
        Plant(at, type);
        int d = b.W_O.Dim(2);
        for (int k = 0; k < b.W_O.Dim(1); k++)
            for (int t = 0; t < Layout.Vocab; t++)
            {
                float written = b.W_O[at.Head, k, from + t] - before[k * d + from + t];
                if (written == 0) continue;
                b.W_O[at.Head, k, from + t] -= written;
                b.W_O[at.Head, k, to + t] += DecoyScale * written;
            }
    }

    /// <summary>
    /// A score term: the query's residual dim <paramref name="queryDim"/> times the key's <paramref name="keyDim"/>,
    /// in <paramref name="units"/> of the target gap (head-dim slot <paramref name="slot"/>: GPT-2 slot i, Llama the
    /// real part of slow rotary pair i, as token matching uses).
    /// </summary>
    public void Score((int Layer, int Head) at, int queryDim, int keyDim, int slot, double units)
    {
        var b = Blocks[at.Layer];
        int s = Planter.TokenSlot(slot);
        b.W_Q[at.Head, queryDim, s] += (float)units * Planter.Gain(at.Layer);
        b.W_K[at.Head / Group, keyDim, s] += 1f;
    }

    /// <summary>OV: residual dim <paramref name="from"/> → value slot → residual dim <paramref name="to"/>, a unit write times <paramref name="scale"/>.</summary>
    public void Move((int Layer, int Head) at, int from, int slot, int to, float scale)
    {
        Read(at, from, slot);
        Write(at, slot, to, scale);
    }

    /// <summary>V: residual dim <paramref name="from"/> adds 1 to value slot <paramref name="slot"/>.</summary>
    public void Read((int Layer, int Head) at, int from, int slot) => Blocks[at.Layer].W_V[at.Head / Group, from, slot] += 1f;

    /// <summary>O: value slot <paramref name="slot"/> → residual dim <paramref name="to"/>, a unit write times <paramref name="scale"/>.</summary>
    public void Write((int Layer, int Head) at, int slot, int to, float scale) =>
        Blocks[at.Layer].W_O[at.Head, slot, to] += scale / Planter.Nominal(at.Layer);

    /// <summary>The model: <see cref="PlantedModels.Weights"/> around the planted blocks.</summary>
    public TransformerWeights Weights(string source) =>
        PlantedModels.Weights(source, Blocks, Llama, Layout.Vocab, Layout.DModel, Config.ContextLength, Layout.Tok, Layout.Const, Layout.Out, Layout.Pos, Layout.Balance);

    /// <summary>"a{l}.h{h}".</summary>
    public static string Node((int Layer, int Head) at) => $"a{at.Layer}.h{at.Head}";

    /// <summary>The graph name of a head's query, key or value input (k/v: its group's, under grouped-query attention).</summary>
    public string Input((int Layer, int Head) at, ReceiverKind kind)
    {
        _graph ??= CircuitGraph.Create(Config);
        int head = kind == ReceiverKind.Query ? at.Head : Config.KvHeadOf(at.Head);
        return _graph.Receivers.First(r => r.Kind == kind && r.Layer == at.Layer && r.Head == head).Name;
    }
}
