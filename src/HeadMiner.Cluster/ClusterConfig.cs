using System.Text.Json;

namespace HeadMiner.Cluster;

/// <summary>
/// The CONFIG file of `--cluster CONFIG` (docs/SCALING.md): which Orleans membership the silos and the client use and
/// how patient they are. Every mistake is one <see cref="HeadMinerException"/> naming the file and the key.
/// <code>
/// { "clustering": "localhost", "primary_silo_port": 11111, "gateway_ports": [30000, 30001, 30002] }
/// { "clustering": "redis", "connection_string": "redis:6379", "cluster_id": "atlas", "service_id": "headminer" }
/// { "clustering": "adonet", "invariant": "Npgsql", "connection_string": "Host=db;Database=orleans;…" }
/// </code>
/// </summary>
public sealed record ClusterConfig
{
    public static readonly string[] Kinds = ["localhost", "redis", "adonet"];

    public required string Source { get; init; }

    /// <summary>localhost (Orleans' development clustering: every silo on this machine, the first one holding the membership), redis or adonet.</summary>
    public required string Clustering { get; init; }

    public string ClusterId { get; init; } = "headminer";

    public string ServiceId { get; init; } = "headminer";

    /// <summary>localhost: the primary silo's port (the silo started with this --silo-port holds the membership table).</summary>
    public int PrimarySiloPort { get; init; } = 11111;

    /// <summary>localhost: the gateway ports a client may connect to (one per silo).</summary>
    public IReadOnlyList<int> GatewayPorts { get; init; } = [30000];

    /// <summary>redis / adonet: where the membership table lives.</summary>
    public string? ConnectionString { get; init; }

    /// <summary>adonet: the ADO.NET provider's invariant name (Npgsql, MySql.Data.MySqlClient, Microsoft.Data.SqlClient); its driver must be installed beside headminer.</summary>
    public string? Invariant { get; init; }

    /// <summary>Silo and gateway ports for redis / adonet (each machine runs one silo; override with --silo-port / --gateway-port).</summary>
    public int SiloPort { get; init; } = 11111;

    public int GatewayPort { get; init; } = 30000;

    /// <summary>Kubernetes: the silos take their name, address and cluster id from the pod (Orleans.Hosting.Kubernetes; deploy/).</summary>
    public bool Kubernetes { get; init; }

    /// <summary>How long a client waits for the cluster to answer before it gives up (connect, and each call).</summary>
    public double ConnectTimeoutSeconds { get; init; } = 15;

    /// <summary>A worker must renew its unit's lease within this; else the unit goes to another worker.</summary>
    public double LeaseSeconds { get; init; } = 20;

    /// <summary>A run with no worker asking for work this long is abandoned with an error (the cluster has no workers).</summary>
    public double NoWorkerTimeoutSeconds { get; init; } = 60;

    /// <summary>Silo failure detection: probe timeout and missed probes before a silo is declared dead.</summary>
    public double ProbeTimeoutSeconds { get; init; } = 2;

    public int MissedProbesLimit { get; init; } = 2;

    /// <summary>
    /// Fault rehearsal (0 = off): a worker keeps each finished unit this long, renewing its lease, before handing it
    /// back, as over a slow link. Killing a worker then always catches it holding a unit, so the re-run of a dead
    /// worker's unit can be tested and rehearsed deterministically.
    /// </summary>
    public double HoldResultsSeconds { get; init; }

    public static ClusterConfig Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{path}: cannot read the cluster config: {e.Message}", e);
        }
        return Parse(text, path);
    }

    public static ClusterConfig Parse(string text, string source)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{source}: not valid JSON: {e.Message}", e);
        }
        if (root.ValueKind != JsonValueKind.Object) throw new HeadMinerException($"{source}: the cluster config must be a JSON object");
        var known = new HashSet<string>(["clustering", "cluster_id", "service_id", "primary_silo_port", "gateway_ports", "connection_string", "invariant",
            "silo_port", "gateway_port", "kubernetes", "connect_timeout_seconds", "lease_seconds", "no_worker_timeout_seconds", "probe_timeout_seconds", "missed_probes_limit", "hold_results_seconds"]);
        foreach (var p in root.EnumerateObject())
            if (!known.Contains(p.Name)) throw new HeadMinerException($"{source}: unknown key \"{p.Name}\" (known: {string.Join(", ", known.Order())})");

        string clustering = String(root, "clustering", source) ?? throw new HeadMinerException($"{source}: \"clustering\" is missing ({string.Join(", ", Kinds)})");
        if (!Kinds.Contains(clustering)) throw new HeadMinerException($"{source}: \"clustering\" is \"{clustering}\"; it must be one of {string.Join(", ", Kinds)}");
        var config = new ClusterConfig
        {
            Source = source,
            Clustering = clustering,
            ClusterId = String(root, "cluster_id", source) ?? "headminer",
            ServiceId = String(root, "service_id", source) ?? "headminer",
            PrimarySiloPort = Port(root, "primary_silo_port", source) ?? 11111,
            GatewayPorts = root.TryGetProperty("gateway_ports", out var g) ? Ports(g, source) : [30000],
            ConnectionString = String(root, "connection_string", source),
            Invariant = String(root, "invariant", source),
            SiloPort = Port(root, "silo_port", source) ?? 11111,
            GatewayPort = Port(root, "gateway_port", source) ?? 30000,
            Kubernetes = root.TryGetProperty("kubernetes", out var k) && (k.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? k.GetBoolean() : throw new HeadMinerException($"{source}: \"kubernetes\" must be true or false")),
            ConnectTimeoutSeconds = Seconds(root, "connect_timeout_seconds", source) ?? 15,
            LeaseSeconds = Seconds(root, "lease_seconds", source) ?? 20,
            NoWorkerTimeoutSeconds = Seconds(root, "no_worker_timeout_seconds", source) ?? 60,
            ProbeTimeoutSeconds = Seconds(root, "probe_timeout_seconds", source) ?? 2,
            HoldResultsSeconds = Seconds(root, "hold_results_seconds", source) ?? 0,
            MissedProbesLimit = root.TryGetProperty("missed_probes_limit", out var m)
                ? (m.TryGetInt32(out int limit) && limit is >= 1 and <= 10 ? limit : throw new HeadMinerException($"{source}: \"missed_probes_limit\" must be an integer from 1 to 10"))
                : 2,
        };
        if (clustering != "localhost" && string.IsNullOrWhiteSpace(config.ConnectionString))
            throw new HeadMinerException($"{source}: \"clustering\": \"{clustering}\" needs \"connection_string\"");
        if (clustering == "adonet" && string.IsNullOrWhiteSpace(config.Invariant))
            throw new HeadMinerException($"{source}: \"clustering\": \"adonet\" needs \"invariant\" (the ADO.NET provider, e.g. Npgsql)");
        if (clustering == "localhost" && config.Kubernetes)
            throw new HeadMinerException($"{source}: \"kubernetes\": true needs a shared membership (\"clustering\": \"redis\" or \"adonet\"), not localhost");
        return config;
    }

    private static string? String(JsonElement root, string key, string source)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw new HeadMinerException($"{source}: \"{key}\" must be a string");
        string s = v.GetString()!;
        return s.Length == 0 ? throw new HeadMinerException($"{source}: \"{key}\" is empty") : s;
    }

    private static int? Port(JsonElement root, string key, string source) =>
        root.TryGetProperty(key, out var v) ? PortValue(v, $"\"{key}\"", source) : null;

    private static int PortValue(JsonElement v, string what, string source) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int port) && port is >= 1 and <= 65535
            ? port
            : throw new HeadMinerException($"{source}: {what} must be a port number from 1 to 65535, not {v.GetRawText()}");

    private static int[] Ports(JsonElement v, string source)
    {
        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() == 0)
            throw new HeadMinerException($"{source}: \"gateway_ports\" must be a non-empty array of port numbers");
        return [.. v.EnumerateArray().Select((p, i) => PortValue(p, $"\"gateway_ports\"[{i}]", source))];
    }

    private static double? Seconds(JsonElement root, string key, string source)
    {
        if (!root.TryGetProperty(key, out var v)) return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double s) && s is > 0 and <= 86400
            ? s
            : throw new HeadMinerException($"{source}: \"{key}\" must be a number of seconds above 0 (at most 86400), not {v.GetRawText()}");
    }
}
