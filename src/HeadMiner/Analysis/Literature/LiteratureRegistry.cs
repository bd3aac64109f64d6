using System.Text.Json;
using HeadMiner.Analysis.Catalog;
using HeadMiner.Models;

namespace HeadMiner.Analysis.Literature;

/// <summary>
/// Published head facts with exact layer.head, per model, and the weight fingerprints that identify each model: the
/// embedded <c>literature.json</c> (version <see cref="CurrentVersion"/>), validated when loaded (known papers and
/// models, catalog head types, heads inside the model's shape, senders before receivers). <see cref="Match(LoadedModel)"/>
/// fingerprints a loaded model's checkpoint and returns the registered model it is, if any. docs/ATLAS.md,
/// "Agreement with the literature".
/// </summary>
public sealed class LiteratureRegistry
{
    public const int CurrentVersion = 1;
    private const string ResourceName = "HeadMiner.Analysis.Literature.literature.json";

    private static readonly Lazy<LiteratureRegistry> Embedded = new(() =>
    {
        using var stream = typeof(LiteratureRegistry).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new HeadMinerException($"the literature resource {ResourceName} is missing from the library");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), "embedded literature registry");
    });

    private LiteratureRegistry(IReadOnlyList<LiteraturePaper> papers, IReadOnlyList<LiteratureModel> models)
    {
        Papers = papers;
        Models = models;
    }

    /// <summary>The registry shipped with the library.</summary>
    public static LiteratureRegistry Default => Embedded.Value;

    public IReadOnlyList<LiteraturePaper> Papers { get; }
    public IReadOnlyList<LiteratureModel> Models { get; }

    /// <summary>The model registered under <paramref name="id"/> ("gpt2"), or null.</summary>
    public LiteratureModel? Find(string id) => Models.FirstOrDefault(m => string.Equals(m.Id, id, StringComparison.OrdinalIgnoreCase));

    /// <summary>The model one of whose fingerprints is <paramref name="fingerprint"/>, or null.</summary>
    public LiteratureModel? FindByFingerprint(string? fingerprint) =>
        fingerprint is null ? null : Models.FirstOrDefault(m => m.Fingerprints.Contains(fingerprint, StringComparer.Ordinal)) is { } m ? m with { MatchedFingerprint = fingerprint } : null;

    /// <summary>The registered model <paramref name="loaded"/> is (by the fingerprint of its checkpoint), or null.</summary>
    public LiteratureModel? Match(LoadedModel loaded)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        return Match(loaded.Path, loaded.Model);
    }

    /// <summary>
    /// The registered model whose fingerprint the checkpoint at <paramref name="path"/> has and whose shape
    /// <paramref name="model"/> has, or null — also when <paramref name="path"/> is no file or directory (a model
    /// built in memory), holds no checkpoint the fingerprint can read, or has no attention weight it knows. Weight processing, storage
    /// precision and a weights-only load do not change the answer (<see cref="WeightFingerprint"/>).
    /// </summary>
    public LiteratureModel? Match(string path, Transformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (string.IsNullOrEmpty(path) || (!File.Exists(path) && !Directory.Exists(path))) return null;
        string? fingerprint;
        try
        {
            fingerprint = WeightFingerprint.Compute(path, model.Config.Layers);
        }
        catch (HeadMinerException)
        {
            return null; // no checkpoint the fingerprint can read there: not a registered model
        }
        var found = FindByFingerprint(fingerprint);
        return found is not null && found.Layers == model.Config.Layers && found.Heads == model.Config.Heads ? found : null;
    }

    /// <summary>Reads and validates a registry; any error names <paramref name="source"/> and the entry.</summary>
    public static LiteratureRegistry Parse(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{source}: not valid JSON: {e.Message}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            int version = Int(root, "version", source);
            if (version != CurrentVersion) throw new HeadMinerException($"{source}: version {version}; this tool reads version {CurrentVersion}");
            var papers = new Dictionary<string, LiteraturePaper>(StringComparer.Ordinal);
            foreach (var p in Array(root, "papers", source))
            {
                var paper = new LiteraturePaper
                {
                    Id = Str(p, "id", source),
                    Title = Str(p, "title", source),
                    Arxiv = Str(p, "arxiv", source),
                    Year = p.TryGetProperty("year", out var y) ? y.GetInt32() : 0,
                    Note = OptStr(p, "note"),
                };
                if (!papers.TryAdd(paper.Id, paper)) throw new HeadMinerException($"{source}: paper \"{paper.Id}\" is listed twice");
            }
            var catalog = HeadCatalog.Load();
            var facts = new Dictionary<string, List<LiteratureFact>>(StringComparer.Ordinal);
            var shapes = new Dictionary<string, (int Layers, int Heads)>(StringComparer.Ordinal);
            var modelElements = Array(root, "models", source).ToList();
            foreach (var m in modelElements)
            {
                string id = Str(m, "id", source);
                if (!shapes.TryAdd(id, (Int(m, "layers", source), Int(m, "heads", source)))) throw new HeadMinerException($"{source}: model \"{id}\" is listed twice");
                facts[id] = [];
            }
            int index = 0;
            foreach (var f in Array(root, "facts", source))
            {
                string where = $"{source}: fact {index++}";
                string modelId = Str(f, "model", where);
                if (!shapes.TryGetValue(modelId, out var shape)) throw new HeadMinerException($"{where}: unknown model \"{modelId}\"");
                string paperId = Str(f, "paper", where);
                if (!papers.TryGetValue(paperId, out var paper)) throw new HeadMinerException($"{where}: unknown paper \"{paperId}\"");
                string type = Str(f, "type", where);
                var fact = new LiteratureFact { ModelId = modelId, Type = type, Paper = paper, Note = OptStr(f, "note") };
                if (type == LiteratureFact.KComposition)
                {
                    var sender = Head(f, "sender", where, shape);
                    var receiver = Head(f, "receiver", where, shape);
                    if (sender.Layer >= receiver.Layer) throw new HeadMinerException($"{where}: sender {sender} is not in an earlier layer than receiver {receiver}");
                    fact = fact with { Sender = sender, Receiver = receiver };
                }
                else
                {
                    if (catalog.Find(type) is not { } headType || headType.Id != type) throw new HeadMinerException($"{where}: \"{type}\" is not a catalog head-type id (headminer catalog) nor {LiteratureFact.KComposition}");
                    fact = fact with { Head = Head(f, null, where, shape) };
                }
                facts[modelId].Add(fact);
            }
            var models = modelElements.Select(m =>
            {
                string id = Str(m, "id", source);
                var prints = Array(m, "fingerprints", source).Select(e => e.GetString() ?? "").ToList();
                if (prints.Any(p => !p.StartsWith(WeightFingerprint.Prefix, StringComparison.Ordinal) || p.Length != WeightFingerprint.Prefix.Length + 64))
                    throw new HeadMinerException($"{source}: model \"{id}\": a fingerprint is not \"{WeightFingerprint.Prefix}\" + 64 hex digits");
                return new LiteratureModel
                {
                    Id = id,
                    Name = Str(m, "name", source),
                    Layers = shapes[id].Layers,
                    Heads = shapes[id].Heads,
                    Fingerprints = prints,
                    FingerprintSource = OptStr(m, "fingerprint_source"),
                    Facts = facts[id],
                };
            }).ToList();
            return new LiteratureRegistry([.. papers.Values], models);
        }
    }

    private static LiteratureHead Head(JsonElement e, string? property, string where, (int Layers, int Heads) shape)
    {
        var obj = e;
        if (property is not null && (!e.TryGetProperty(property, out obj) || obj.ValueKind != JsonValueKind.Object))
            throw new HeadMinerException($"{where}: missing \"{property}\" {{\"layer\", \"head\"}}");
        var head = new LiteratureHead(Int(obj, "layer", where), Int(obj, "head", where));
        if (head.Layer < 0 || head.Layer >= shape.Layers || head.Head < 0 || head.Head >= shape.Heads)
            throw new HeadMinerException($"{where}: head {head} is outside the model's {shape.Layers} layers × {shape.Heads} heads");
        return head;
    }

    private static IEnumerable<JsonElement> Array(JsonElement e, string name, string where) =>
        e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray() : throw new HeadMinerException($"{where}: missing array \"{name}\"");

    private static string Str(JsonElement e, string name, string where) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : throw new HeadMinerException($"{where}: missing string \"{name}\"");

    private static string? OptStr(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int Int(JsonElement e, string name, string where) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw new HeadMinerException($"{where}: missing integer \"{name}\"");
}
