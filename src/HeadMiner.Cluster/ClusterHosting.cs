using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Hosting;

namespace HeadMiner.Cluster;

/// <summary>
/// Orleans wiring for both sides: a worker silo (`headminer worker`) and the client a command uses to submit a run.
/// The membership is Orleans' own provider named by the config: development clustering on loopback, Redis or ADO.NET
/// for real deployments, and Kubernetes hosting on top of either (deploy/).
/// </summary>
public static class ClusterHosting
{
    /// <summary>A silo that works on units: <paramref name="siloPort"/> and <paramref name="gatewayPort"/> override the config's.</summary>
    public static IHost BuildWorker(ClusterConfig config, ModelHost models, Action<string> log, int? siloPort = null, int? gatewayPort = null)
    {
        int silo = siloPort ?? (config.Clustering == "localhost" ? config.PrimarySiloPort : config.SiloPort);
        int gateway = gatewayPort ?? (config.Clustering == "localhost" ? config.GatewayPorts[0] : config.GatewayPort);
        return new HostBuilder()
            .ConfigureLogging(Logging)
            .UseOrleans(builder =>
            {
                switch (config.Clustering)
                {
                    case "localhost":
                        builder.UseLocalhostClustering(silo, gateway, new IPEndPoint(IPAddress.Loopback, config.PrimarySiloPort), config.ServiceId, config.ClusterId);
                        break;
                    case "redis":
                        builder.UseRedisClustering(config.ConnectionString!);
                        builder.ConfigureEndpoints(silo, gateway, listenOnAnyHostAddress: true);
                        break;
                    default:
                        builder.UseAdoNetClustering(o =>
                        {
                            o.Invariant = config.Invariant!;
                            o.ConnectionString = config.ConnectionString;
                        });
                        builder.ConfigureEndpoints(silo, gateway, listenOnAnyHostAddress: true);
                        break;
                }
                if (config.Clustering != "localhost")
                {
                    builder.Configure<ClusterOptions>(o =>
                    {
                        o.ClusterId = config.ClusterId;
                        o.ServiceId = config.ServiceId;
                    });
                }
                if (config.Kubernetes) builder.UseKubernetesHosting();
                builder.Configure<ClusterMembershipOptions>(o =>
                {
                    o.ProbeTimeout = TimeSpan.FromSeconds(config.ProbeTimeoutSeconds);
                    o.NumMissedProbesLimit = config.MissedProbesLimit;
                });
                builder.Services.AddSingleton(models);
                builder.Services.AddSingleton(new WorkerLog(log));
                builder.Services.AddSingleton(config);
                builder.Services.AddHostedService<WorkerLoop>();
            })
            .Build();
    }

    /// <summary>A connected client, or one <see cref="HeadMinerException"/> when the cluster does not answer within the config's timeout.</summary>
    public static async Task<IHost> ConnectClient(ClusterConfig config, CancellationToken cancel)
    {
        var host = new HostBuilder()
            .ConfigureLogging(Logging)
            .UseOrleansClient(builder =>
            {
                switch (config.Clustering)
                {
                    case "localhost":
                        builder.UseLocalhostClustering([.. config.GatewayPorts], config.ServiceId, config.ClusterId);
                        break;
                    case "redis":
                        builder.UseRedisClustering(config.ConnectionString!);
                        break;
                    default:
                        builder.UseAdoNetClustering(o =>
                        {
                            o.Invariant = config.Invariant!;
                            o.ConnectionString = config.ConnectionString;
                        });
                        break;
                }
                if (config.Clustering != "localhost")
                {
                    builder.Configure<ClusterOptions>(o =>
                    {
                        o.ClusterId = config.ClusterId;
                        o.ServiceId = config.ServiceId;
                    });
                }
                builder.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(config.ConnectTimeoutSeconds));
            })
            .Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(config.ConnectTimeoutSeconds));
        try
        {
            await host.StartAsync(timeout.Token);
            return host;
        }
        catch (Exception e) when (!cancel.IsCancellationRequested)
        {
            host.Dispose();
            throw new HeadMinerException($"{config.Source}: cannot reach the cluster ({Where(config)}) within {config.ConnectTimeoutSeconds:0.#} s: " +
                (e is OperationCanceledException ? "no gateway answered" : $"{e.GetType().Name}: {e.Message}") + "; start workers with `headminer worker --cluster CONFIG`", e);
        }
    }

    /// <summary>Orleans' own log on stderr only when HEADMINER_CLUSTER_LOG is set (a level: Debug, Information, Warning): for diagnosing a cluster.</summary>
    private static void Logging(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        if (Environment.GetEnvironmentVariable("HEADMINER_CLUSTER_LOG") is { Length: > 0 } level && Enum.TryParse<LogLevel>(level, true, out var min))
        {
            logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            logging.SetMinimumLevel(min);
        }
    }

    public static string Where(ClusterConfig config) => config.Clustering switch
    {
        "localhost" => $"localhost gateways {string.Join(", ", config.GatewayPorts)}",
        _ => $"{config.Clustering} membership, cluster id {config.ClusterId}",
    };
}
