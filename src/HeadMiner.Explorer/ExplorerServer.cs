using System.Net;
using System.Text.Json;
using HeadMiner.Hooks;
using HeadMiner.Tensors.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HeadMiner.Explorer;

/// <summary>
/// The explorer's web server: one page, its scripts, and the JSON API (docs/EXPLORER.md). Safety: it listens on
/// loopback unless told otherwise, and then also accepts only loopback Host headers (no DNS rebinding); requests
/// name models by id only; API calls must be JSON (so a cross-site form cannot post), bodies are capped, and each
/// computation runs under a deadline linked to the client's connection.
/// </summary>
public sealed class ExplorerServer : IAsyncDisposable
{
    private static readonly JsonSerializerOptions ResponseJson = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new NonFiniteAsNullConverter() },
    };

    private readonly WebApplication _app;
    private readonly IReadOnlyList<ExplorerModel> _models;
    private readonly ComputeGate _gate;
    private readonly InFlightRequests _inFlight;
    private readonly AtlasSource _atlases;
    private int _stopped;

    private ExplorerServer(WebApplication app, IReadOnlyList<ExplorerModel> models, ComputeGate gate, InFlightRequests inFlight, AtlasSource atlases, string url)
    {
        _app = app;
        _atlases = atlases;
        _models = models;
        _gate = gate;
        _inFlight = inFlight;
        Url = url;
    }

    /// <summary>Requests being handled now.</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>Fires when a stop begins (<see cref="StopAsync"/>): from then on no new connection is accepted.</summary>
    public CancellationToken Stopping => _app.Lifetime.ApplicationStopping;

    /// <summary>The address it listens on, e.g. http://127.0.0.1:5117 (the real port when 0 was asked for).</summary>
    public string Url { get; }

    public IReadOnlyList<ExplorerModel> Models => _models;

    /// <summary>Whether <paramref name="host"/> is a loopback address (the only kind that needs no warning).</summary>
    public static bool IsLoopback(string host) => host == "localhost" || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>Loads the models, binds the port and starts serving.</summary>
    public static async Task<ExplorerServer> StartAsync(ExplorerOptions options, ILoggerProvider? log = null)
    {
        if (options.Port is < 0 or > 65535) throw new HeadMinerException($"port {options.Port} is outside 0..65535");
        var address = options.Host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(options.Host, out var ip) ? ip
            : throw new HeadMinerException($"host \"{options.Host}\" must be an IP address (e.g. 127.0.0.1, or 0.0.0.0 for every interface)");
        bool loopbackOnly = IPAddress.IsLoopback(address);
        var limits = options.Limits;
        var models = ExplorerModel.LoadAll(options.Models);
        var gate = new ComputeGate(limits.MaxConcurrentComputations);
        var inFlight = new InFlightRequests();
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            if (log is not null) builder.Logging.AddProvider(log);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, CallerStoppedLifetime>();
            builder.WebHost.UseKestrel(k =>
            {
                k.AddServerHeader = false;
                // The API's own cap (ApiRequest) answers 413 at MaxBodyBytes; Kestrel's hard limit sits higher so that
                // it can drain a moderately oversize body and the client reads the 413 instead of a reset connection.
                k.Limits.MaxRequestBodySize = Math.Max(limits.MaxBodyBytes * 16, 1 << 20);
                k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
                k.Listen(address, options.Port);
            });
            var app = builder.Build();
            var atlases = new AtlasSource(options.AtlasOnDemand, gate, limits.RequestTimeout);
            var api = new ExplorerApi(models, limits, atlases.OnDemand);
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("HeadMiner.Explorer");

            app.Use(async (context, next) =>
            {
                using var counted = inFlight.Enter();
                var headers = context.Response.Headers;
                headers.XContentTypeOptions = "nosniff";
                headers.ContentSecurityPolicy = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";
                headers["Referrer-Policy"] = "no-referrer";
                if (loopbackOnly && !IsLoopback(context.Request.Host.Host.Trim('[', ']')))
                {
                    await WriteError(context, 421, $"host \"{ExplorerApi.Clip(context.Request.Host.Host)}\" is not a loopback name; this server answers only 127.0.0.1, [::1] and localhost");
                    return;
                }
                await next(context);
            });

            // HEAD answers like GET (status and headers; Kestrel sends no body), so link checkers and curl -I work.
            string[] getOrHead = [HttpMethods.Get, HttpMethods.Head];
            foreach (string path in ExplorerAssets.Paths)
                app.MapMethods(path, getOrHead, (HttpContext context) =>
                {
                    var (type, text) = ExplorerAssets.Get(path);
                    context.Response.Headers.CacheControl = "no-cache";
                    return Results.Text(text, type);
                });

            Task Handle(HttpContext context, Func<CancellationToken, Task<object>> handler) => Respond(context, limits, logger, handler);
            Task Compute(HttpContext context, Func<ApiRequest, CancellationToken, object> work) => Handle(context, async ct =>
            {
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                var request = await ApiRequest.ReadAsync(context.Request, limits.MaxBodyBytes, ct);
                var result = await gate.RunAsync(c => work(request, c), ct);
                // The timer behind the deadline may fire late, after a short computation has finished: the deadline
                // is the elapsed time, so a model computation whose answer is ready too late is still refused.
                if (System.Diagnostics.Stopwatch.GetElapsedTime(started) > limits.RequestTimeout) throw new OperationCanceledException();
                return result;
            });

            Task<object> ListModels(CancellationToken _) => Task.FromResult(api.ListModels());
            app.MapMethods("/api/models", getOrHead, (HttpContext c) => Handle(c, ListModels));
            app.MapPost("/api/tokenize", (HttpContext c) => Compute(c, (r, _) => api.Tokenize(r)));
            app.MapPost("/api/pattern", (HttpContext c) => Compute(c, api.Pattern));
            app.MapPost("/api/logit-lens", (HttpContext c) => Compute(c, api.LogitLens));
            app.MapPost("/api/dla", (HttpContext c) => Compute(c, api.Attribution));
            app.MapPost("/api/flow", (HttpContext c) => Compute(c, api.Flow));
            app.MapPost("/api/intervene", (HttpContext c) => Compute(c, api.Intervene));
            app.MapPost("/api/circuit", (HttpContext c) => Compute(c, api.Circuit));
            app.MapMethods("/api/atlas", getOrHead, (HttpContext c) => Handle(c, async ct =>
            {
                var model = api.Model(c.Request.Query["model"].ToString());
                var atlas = await atlases.GetAsync(model, ct);
                return new { model = model.Id, source = model.AtlasPath is null ? "computed" : "saved", atlas, catalog = Reports.AtlasHtml.CatalogFor(ExplorerApi.AtlasTypeIds(atlas)) };
            }));
            Task AtlasProgress(HttpContext c) => Handle(c, _ => Task.FromResult(atlases.Progress(api.Model(c.Request.Query["model"].ToString()))));
            app.MapMethods("/api/atlas/progress", getOrHead, AtlasProgress);
            // "{**path}", not MapFallback's default "{*path:nonfile}": a path that looks like a file (/favicon.ico,
            // /assets/x.js) must get this JSON 404 too, not an empty one.
            app.MapFallback("{**path}", NotFoundOrWrongMethod);

            await app.StartAsync();
            string url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new ExplorerServer(app, models, gate, inFlight, atlases, url);
        }
        catch
        {
            gate.Dispose();
            foreach (var m in models) m.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The answer to a request no endpoint takes: 405 naming the methods when the path exists with other methods
    /// (GET /api/pattern), else 404 naming the path — always with a JSON body.
    /// </summary>
    private static Task NotFoundOrWrongMethod(HttpContext context)
    {
        string path = context.Request.Path.ToString();
        var allowed = context.RequestServices.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => string.Equals("/" + e.RoutePattern.RawText?.TrimStart('/'), path, StringComparison.OrdinalIgnoreCase))
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])
            .Distinct()
            .ToArray();
        if (allowed.Length == 0) return WriteError(context, 404, $"no such page or endpoint: {context.Request.Method} {ExplorerApi.Clip(path)}");
        context.Response.Headers.Allow = string.Join(", ", allowed);
        return WriteError(context, 405, $"{ExplorerApi.Clip(path)} takes {string.Join(" or ", allowed)}, not {ExplorerApi.Clip(context.Request.Method)}");
    }

    /// <summary>Runs one API handler under the request's deadline and turns every failure into a JSON error.</summary>
    private static async Task Respond(HttpContext context, ExplorerLimits limits, ILogger logger, Func<CancellationToken, Task<object>> handler)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(limits.RequestTimeout);
        try
        {
            var result = await handler(deadline.Token);
            context.Response.Headers.CacheControl = "no-store";
            // NaN/±∞ in a result are null, listed under "non_finite" (docs/EXPLORER.md), never a failed response.
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.WriteAsync(FiniteJson.Serialize(result, ResponseJson).Json, context.RequestAborted);
        }
        catch (ApiException e)
        {
            await WriteError(context, e.Status, e.Message);
        }
        catch (NonFiniteForwardException e)
        {
            // The request was fine; the model cannot give finite numbers for it (broken weights): unprocessable.
            await WriteError(context, 422, e.Message);
        }
        catch (HeadMinerException e)
        {
            await WriteError(context, 400, e.Message);
        }
        catch (BadHttpRequestException e)
        {
            await WriteError(context, e.StatusCode, e.StatusCode == 413 ? $"the request body is over the limit of {limits.MaxBodyBytes} bytes" : e.Message);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away: nothing to answer, and the computation has already stopped.
        }
        catch (OperationCanceledException)
        {
            await WriteError(context, 503, $"the request took longer than {limits.RequestTimeout.TotalSeconds:0.#} s and was cancelled; try a shorter prompt");
        }
        catch (Exception e)
        {
            logger.LogError(e, "internal error on {Path}", context.Request.Path);
            await WriteError(context, 500, $"internal error ({e.GetType().Name}): {e.Message}");
        }
    }

    private static async Task WriteError(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted || context.RequestAborted.IsCancellationRequested) return;
        context.Response.StatusCode = status;
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsJsonAsync(new { error = message, status }, ResponseJson);
    }

    /// <summary>Serves until <paramref name="cancellation"/> fires (Ctrl+C in the CLI).</summary>
    public async Task RunUntilAsync(CancellationToken cancellation)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellation);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Stops accepting connections and lets the requests in flight finish for up to <paramref name="drain"/> (the CLI
    /// passes --timeout, which bounds every computation anyway); requests still running then are aborted.
    /// </summary>
    public async Task<ServerDrain> StopAsync(TimeSpan drain)
    {
        int inFlight = _inFlight.Count;
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return new ServerDrain(0, 0, drain);
        using var limit = new CancellationTokenSource(drain);
        // What is still running when the limit fires is what Kestrel aborts; counted then, because an aborted handler
        // may still be unwinding when StopAsync returns.
        int cutOff = 0;
        using (limit.Token.Register(() => cutOff = _inFlight.Count))
            await _app.StopAsync(limit.Token);
        return new ServerDrain(inFlight, Math.Min(inFlight, Volatile.Read(ref cutOff)), drain);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0) await _app.StopAsync();
        await _app.DisposeAsync();
        await _atlases.StopAsync(); // before the models go: a computation still running reads their mapped weights
        _gate.Dispose();
        foreach (var m in _models) m.Dispose();
    }
}
