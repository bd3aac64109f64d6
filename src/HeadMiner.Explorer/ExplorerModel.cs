using System.Text.Json;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Models;

namespace HeadMiner.Explorer;

/// <summary>
/// One model the server offers, known to the page only by <see cref="Id"/>: requests name a model by id, so no path
/// from a request ever reaches the file system.
/// </summary>
public sealed class ExplorerModel(string id, LoadedModel loaded, AtlasReport? savedAtlas, string? atlasPath) : IDisposable
{
    public string Id { get; } = id;

    public LoadedModel Loaded { get; } = loaded;

    public Transformer Model => Loaded.Model;

    public ModelConfig Config => Loaded.Model.Config;

    /// <summary>The atlas read at start-up (--atlas FILE or atlas.json in the model directory), or null.</summary>
    public AtlasReport? SavedAtlas { get; } = savedAtlas;

    /// <summary>The saved atlas as the API sends it (docs/ATLAS.md field names), serialised once.</summary>
    public JsonElement? SavedAtlasJson { get; } = savedAtlas is null ? null : Tensors.Json.FiniteJson.SerializeToElement(savedAtlas, AtlasReport.Json);

    public string? AtlasPath { get; } = atlasPath;

    /// <summary>
    /// One example prompt per task set that can be built for the model's tokenizer (seed 0, within its context): the
    /// prompt box offers them, so a first look at a model starts from a prompt in its own vocabulary (for the embedded
    /// model: one per task of the toy English). Repeated random tokens are left out (random words, not an example);
    /// a model without a tokenizer has none. Computed on first use: scanning a 50k vocabulary takes a moment.
    /// </summary>
    public IReadOnlyList<(string Task, string Prompt)> Examples => _examples.Value;

    private readonly Lazy<IReadOnlyList<(string Task, string Prompt)>> _examples = new(() => ExamplesOf(loaded));

    private static IReadOnlyList<(string Task, string Prompt)> ExamplesOf(LoadedModel loaded)
    {
        if (loaded.Tokenizer is not { } tokenizer) return [];
        var examples = new List<(string, string)>();
        foreach (var generator in Tasks.Sets.TaskSets.All.Where(g => g.Name != "repeated_tokens"))
        {
            try
            {
                var set = generator.Generate(tokenizer, new Tasks.Sets.TaskSetOptions { Count = 1, ContextLength = loaded.Model.Config.ContextLength });
                examples.Add((generator.Name, set.Pairs[0].Clean));
            }
            catch (HeadMinerException)
            {
                // This vocabulary cannot spell the set (e.g. GPT-2 has no single-token two-digit years for some centuries): no example.
            }
        }
        return examples;
    }

    /// <summary>A display name: the model's directory or file name (not its full path).</summary>
    public string Name => System.IO.Path.GetFileName(Loaded.Path.TrimEnd('/', '\\'));

    /// <summary>Loads the models of <paramref name="specs"/>, giving each a unique id made from its name.</summary>
    public static IReadOnlyList<ExplorerModel> LoadAll(IReadOnlyList<ExplorerModelSpec> specs)
    {
        if (specs.Count == 0) throw new HeadMinerException("the explorer needs at least one model");
        var models = new List<ExplorerModel>();
        try
        {
            var used = new HashSet<string>(StringComparer.Ordinal);
            foreach (var spec in specs)
            {
                var loaded = ModelLoader.Load(spec.Path);
                try
                {
                    string? atlasPath = spec.AtlasPath;
                    if (atlasPath is null && Directory.Exists(spec.Path) && File.Exists(System.IO.Path.Combine(spec.Path, AtlasFile.DefaultName)))
                        atlasPath = System.IO.Path.Combine(spec.Path, AtlasFile.DefaultName);
                    var atlas = atlasPath is null ? null : AtlasFile.Load(atlasPath, loaded.Model.Config);
                    string id = UniqueId(spec.Name ?? System.IO.Path.GetFileNameWithoutExtension(loaded.Path.TrimEnd('/', '\\')), used);
                    models.Add(new ExplorerModel(id, loaded, atlas, atlasPath));
                }
                catch
                {
                    loaded.Dispose();
                    throw;
                }
            }
            return models;
        }
        catch
        {
            foreach (var m in models) m.Dispose();
            throw;
        }
    }

    private static string UniqueId(string name, HashSet<string> used)
    {
        var chars = name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray();
        string stem = chars.Length == 0 ? "model" : new string(chars);
        string id = stem;
        for (int i = 2; !used.Add(id); i++) id = $"{stem}-{i}";
        return id;
    }

    public void Dispose() => Loaded.Dispose();
}
