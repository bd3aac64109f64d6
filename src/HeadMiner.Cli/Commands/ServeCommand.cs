using System.CommandLine;
using HeadMiner.Explorer;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer serve`: the explorer web app (docs/EXPLORER.md) for the models given here — the page can choose only
/// among them. Listens on 127.0.0.1 unless --host names another address, and then warns.
/// </summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var models = new Option<string[]>("--model", "-m") { Description = "Model to offer (repeatable); default: the embedded model", AllowMultipleArgumentsPerToken = false };
        var atlases = new Option<string[]>("--atlas") { Description = "Saved atlas.json for the model given at the same position (repeatable); default: atlas.json in the model directory" };
        var host = new Option<string?>("--host") { Description = "Address to listen on (default 127.0.0.1). Anything else exposes the explorer, which has no authentication, to the network" };
        var port = new Option<int>("--port") { Description = "TCP port (0 = any free port)", DefaultValueFactory = _ => 5117 };
        var timeout = new Option<double>("--timeout") { Description = "Seconds one request may compute before it is cancelled", DefaultValueFactory = _ => 30 };
        var command = new Command("serve", "Explore attention patterns, the head atlas, the logit lens and head ablations in the browser.") { models, atlases, host, port, timeout };
        command.SetAction((parse, cancel) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var paths = parse.GetValue(models) is { Length: > 0 } given ? given
                : [DefaultModel.Path ?? throw new UsageException("no --model given and no embedded default model is available")];
            var atlasPaths = parse.GetValue(atlases) ?? [];
            if (atlasPaths.Length > paths.Length)
                throw new UsageException($"{atlasPaths.Length} --atlas files for {paths.Length} --model paths; give them in the same order as the models");
            int portValue = parse.GetValue(port);
            if (portValue is < 0 or > 65535) throw new UsageException($"--port {portValue} must be in 0..65535");
            double seconds = parse.GetValue(timeout);
            if (!(seconds > 0 && seconds <= 3600)) throw new UsageException($"--timeout {seconds} must be in (0, 3600] seconds");
            string? hostValue = parse.GetValue(host);
            if (hostValue is not null && !ExplorerServer.IsLoopback(hostValue))
                stderr.WriteLine($"warning: listening on {hostValue}: anyone who can reach this machine can use the explorer (it has no authentication)");
            var options = new ExplorerOptions
            {
                Models = paths.Select((p, i) =>
                {
                    // A cache id loads its snapshot folder but keeps the repo's name (not the commit hash) as its id.
                    string resolved = ModelOptions.Resolve(p);
                    return new ExplorerModelSpec(resolved, i < atlasPaths.Length ? atlasPaths[i] : null, ModelReference.DisplayName(p, resolved));
                }).ToArray(),
                Host = hostValue ?? "127.0.0.1",
                Port = portValue,
                Limits = new ExplorerLimits { RequestTimeout = TimeSpan.FromSeconds(seconds) },
                // A model without a saved atlas gets one computed on first request (cached, capped by --timeout).
                AtlasOnDemand = new RunnerAtlasProvider(),
            };
            // The token is the CLI's SIGINT/SIGTERM token (StopSignals): what systemd, Docker and Kubernetes send.
            return ServeAsync(options, stdout, cancel);
        });
        return command;
    }

    private static async Task<int> ServeAsync(ExplorerOptions options, TextWriter stdout, CancellationToken stop)
    {
        await using var server = await ExplorerServer.StartAsync(options);
        foreach (var m in server.Models)
        {
            stdout.WriteLine($"model {m.Id}: {m.Loaded.Path} ({m.Config.Layers} layers × {m.Config.Heads} heads){(m.AtlasPath is null ? ", atlas computed on demand" : $", atlas {m.AtlasPath}")}");
            // The page's prompts go through the same tokenizer default as every command's: say which it is.
            if (m.Loaded.Tokenizer is not null) stdout.WriteLine($"  {BosChoice.Describe(m.Loaded.Tokenizer)}");
        }
        stdout.WriteLine($"HeadMiner explorer at {server.Url}/ (Ctrl+C to stop)");
        stdout.Flush();
        await server.RunUntilAsync(stop);
        // Requests in flight get up to --timeout to finish: each is capped by it anyway, so a drain that waits longer
        // would wait for nothing, and one that waits less would cut off answers that were still allowed.
        var drain = await server.StopAsync(options.Limits.RequestTimeout);
        throw new CommandStoppedException($"serve stopped; {drain.Describe()}");
    }
}
