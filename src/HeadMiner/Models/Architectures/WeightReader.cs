using HeadMiner.Tensors;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// What an architecture file reads checkpoint tensors through: checks each tensor's shape, tries the name with the
/// prefixes different Hugging Face classes save under (e.g. "transformer." for GPT2LMHeadModel, none for GPT2Model),
/// and, in weights-only mode, returns null for absent tensors instead of failing.
/// </summary>
public sealed class WeightReader(IWeightSource source, bool allowMissing, params string[] prefixes)
{
    private readonly string[] _prefixes = prefixes.Length == 0 ? [""] : prefixes;
    private readonly HashSet<string> _used = [];

    public IWeightSource Source { get; } = source;
    public bool AllowMissing { get; } = allowMissing;

    /// <summary>The tensor <paramref name="name"/> (under any accepted prefix) with exactly <paramref name="shape"/>.</summary>
    public Tensor? Get(string name, params int[] shape) => Find(name, shape, required: !AllowMissing);

    /// <summary>A tensor the architecture can do without (a bias that some checkpoints omit).</summary>
    public Tensor? Optional(string name, params int[] shape) => Find(name, shape, required: false);

    public bool Contains(string name) => _prefixes.Any(p => Source.Contains(p + name));

    /// <summary>Checkpoint tensors no architecture code asked for (reported by `info`, they hint at a config mismatch).</summary>
    public IEnumerable<string> Unused(Func<string, bool>? ignore = null) =>
        Source.Names.Where(n => !_used.Contains(n) && !(ignore?.Invoke(n) ?? false)).Order();

    private Tensor? Find(string name, int[] shape, bool required)
    {
        foreach (var prefix in _prefixes)
        {
            string full = prefix + name;
            if (!Source.Contains(full)) continue;
            var t = Source.Get(full);
            if (!t.Shape.SequenceEqual(shape))
                throw new HeadMinerException($"{Source.FileOf(full)}: tensor \"{full}\" has shape {t.ShapeString}, expected {Tensor.Format(shape)} from config.json");
            _used.Add(full);
            return t;
        }
        if (required)
            throw new HeadMinerException($"{Source.Source}: tensor \"{_prefixes[0]}{name}\" is missing from the checkpoint" +
                (AllowMissing ? "" : " (load it weights-only, e.g. `info --weights-only`, to analyse a partial checkpoint)"));
        return null;
    }
}
