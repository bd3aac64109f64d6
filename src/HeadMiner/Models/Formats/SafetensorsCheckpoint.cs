using System.Text.Json;
using HeadMiner.Tensors;

namespace HeadMiner.Models.Formats;

/// <summary>
/// A model's weights in safetensors form, addressed by tensor name whatever the files: a Hugging Face model directory
/// (<c>model.safetensors</c>, or shards <c>model-0000i-of-0000n.safetensors</c> listed by
/// <c>model.safetensors.index.json</c>), an index file, or one explicit <c>*.safetensors</c> file. Every file is
/// mapped and validated up front (<see cref="SafetensorsFile"/>) and stays mapped until <see cref="Dispose"/>, because
/// the tensors handed out are views onto the mappings.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _owner;
    private readonly List<string> _names;

    private SafetensorsCheckpoint(string path, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> owner, List<string> names)
    {
        Path = path;
        _files = files;
        _owner = owner;
        _names = names;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in files)
            foreach (var (key, value) in file.Metadata) metadata.TryAdd(key, value);
        Metadata = metadata;
    }

    /// <summary>What was opened: the directory, index file or single file.</summary>
    public string Path { get; }

    /// <summary>The mapped files (one, or one per shard in index order).</summary>
    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>All tensor names: file order, shard by shard.</summary>
    public IReadOnlyList<string> TensorNames => _names;

    /// <summary>The files' <c>__metadata__</c> merged (for shards, the first shard to define a key wins).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>
    /// Opens a model directory (prefers the index when both an index and <c>model.safetensors</c> exist, as
    /// Hugging Face does), an index JSON file, or a single <c>.safetensors</c> file.
    /// </summary>
    public static SafetensorsCheckpoint Open(string path)
    {
        if (Directory.Exists(path))
        {
            string index = System.IO.Path.Combine(path, IndexFileName);
            // FileLinks.Exists: a dangling link (a Hugging Face cache whose blob is gone) is opened and reported, not skipped.
            if (FileLinks.Exists(index)) return OpenIndex(path, index);
            string single = System.IO.Path.Combine(path, SingleFileName);
            if (FileLinks.Exists(single)) return OpenSingle(path, single);
            var found = Directory.GetFiles(path, "*.safetensors").Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).Take(5).ToList();
            string hint = found.Count == 0 ? "no .safetensors files there" : "found " + string.Join(", ", found) + "; pass one of them explicitly";
            throw new HeadMinerException($"{path}: neither {SingleFileName} nor {IndexFileName} found ({hint})");
        }
        if (!FileLinks.Exists(path)) throw new HeadMinerException($"{path}: no such file or directory");
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return OpenIndex(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, path);
        return OpenSingle(path, path);
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    /// <summary>The file holding <paramref name="name"/>.</summary>
    public SafetensorsFile FileOf(string name)
    {
        if (_owner.TryGetValue(name, out var file)) return file;
        throw new HeadMinerException(
            $"{Path}: no tensor named '{ErrorText.Clip(name)}' (checkpoint has {_names.Count} tensors{NameSuggestions.Describe(name, _names)})");
    }

    public SafetensorsTensorInfo Info(string name) => FileOf(name).Info(name);

    /// <inheritdoc cref="SafetensorsFile.Get"/>
    public Tensor Get(string name) => FileOf(name).Get(name);

    /// <inheritdoc cref="SafetensorsFile.GetFloat32"/>
    public Tensor GetFloat32(string name) => FileOf(name).GetFloat32(name);

    /// <inheritdoc cref="SafetensorsFile.GetHalf"/>
    public HalfTensor GetHalf(string name) => FileOf(name).GetHalf(name);

    /// <inheritdoc cref="SafetensorsFile.RawBytes"/>
    public ReadOnlySpan<byte> RawBytes(string name) => FileOf(name).RawBytes(name);

    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
    }

    private static SafetensorsCheckpoint OpenSingle(string displayPath, string file)
    {
        var opened = SafetensorsFile.Open(file);
        var owner = opened.TensorNames.ToDictionary(n => n, _ => opened, StringComparer.Ordinal);
        return new SafetensorsCheckpoint(displayPath, [opened], owner, [.. opened.TensorNames]);
    }

    private static SafetensorsCheckpoint OpenIndex(string directory, string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        var shardNames = weightMap.Values.Distinct(StringComparer.Ordinal).ToList();
        var files = new List<SafetensorsFile>();
        try
        {
            var byShard = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (string shard in shardNames)
            {
                string shardPath = System.IO.Path.Combine(directory, shard);
                if (!FileLinks.Exists(shardPath))
                {
                    string example = weightMap.First(kv => kv.Value == shard).Key;
                    throw new HeadMinerException($"{indexPath}: shard '{shard}' (holding e.g. tensor '{ErrorText.Clip(example)}') not found at {shardPath}");
                }
                var file = SafetensorsFile.Open(shardPath);
                files.Add(file);
                byShard[shard] = file;
            }
            foreach (var (tensor, shard) in weightMap)
            {
                if (!byShard[shard].Contains(tensor))
                    throw new HeadMinerException($"{indexPath}: tensor '{ErrorText.Clip(tensor)}' is mapped to shard '{shard}', which does not contain it");
            }
            // Tensors a shard holds beyond the index are still reachable; one held by two shards is ambiguous.
            var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            var names = new List<string>();
            foreach (var file in files)
            {
                foreach (string tensor in file.TensorNames)
                {
                    if (owner.TryGetValue(tensor, out var other))
                        throw new HeadMinerException($"{indexPath}: tensor '{ErrorText.Clip(tensor)}' appears in two shards: {other.Path} and {file.Path}");
                    owner[tensor] = file;
                    names.Add(tensor);
                }
            }
            return new SafetensorsCheckpoint(directory, files, owner, names);
        }
        catch
        {
            foreach (var file in files) file.Dispose();
            throw;
        }
    }

    /// <summary>Parses <c>{"weight_map": {"tensor": "shard file name", …}}</c>; shard names must be plain file names.</summary>
    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        byte[] bytes;
        FileLinks.Resolve(indexPath, "safetensors index");
        try
        {
            bytes = File.ReadAllBytes(indexPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{indexPath}: cannot read index: {e.Message}", e);
        }
        try
        {
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new HeadMinerException($"{indexPath}: index has no \"weight_map\" object");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new HeadMinerException($"{indexPath}: weight_map entry '{ErrorText.Clip(entry.Name)}' is not a file name string");
                string shard = entry.Value.GetString()!;
                // A shard name is resolved inside the model directory; refuse anything that could point elsewhere.
                if (shard.Length == 0 || shard != System.IO.Path.GetFileName(shard) || shard is "." or ".." || shard.Contains('\\'))
                    throw new HeadMinerException($"{indexPath}: weight_map entry '{ErrorText.Clip(entry.Name)}' names shard '{ErrorText.Clip(shard)}', which is not a plain file name");
                if (!result.TryAdd(entry.Name, shard))
                    throw new HeadMinerException($"{indexPath}: tensor '{ErrorText.Clip(entry.Name)}' appears twice in weight_map");
            }
            if (result.Count == 0) throw new HeadMinerException($"{indexPath}: weight_map is empty");
            return result;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new HeadMinerException($"{indexPath}: index is not valid JSON: {e.Message}", e);
        }
    }
}
