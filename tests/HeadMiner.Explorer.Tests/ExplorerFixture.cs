using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;

namespace HeadMiner.Explorer.Tests;

/// <summary>
/// One explorer server (and, when a browser test asks, one headless Chromium) shared by every test in the
/// collection, to keep the CI cost small. It serves the test model twice, as `headminer serve` does (atlases on
/// demand): with the runner's atlas saved as a file (id <see cref="WithAtlas"/>) and without one, so its atlas is
/// computed on the first request (id <see cref="OnDemand"/>).
/// </summary>
public sealed class ExplorerFixture : IAsyncLifetime
{
    public const string WithAtlas = TestModel.Id;
    public const string OnDemand = TestModel.Id + "-2";

    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private readonly SemaphoreSlim _browserLock = new(1, 1);

    public ExplorerServer Server { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await ExplorerServer.StartAsync(new ExplorerOptions
        {
            Models = [new ExplorerModelSpec(TestModel.Path, TestModel.AtlasPath), new ExplorerModelSpec(TestModel.Path)],
            Port = 0,
            AtlasOnDemand = new RunnerAtlasProvider(),
        });
        Http = new HttpClient { BaseAddress = new Uri(Server.Url), Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>A second, short-lived server for the test model with no saved atlas and no on-demand provider.</summary>
    public static Task<ExplorerServer> StartWithoutAtlasAsync(ExplorerLimits? limits = null) =>
        ExplorerServer.StartAsync(new ExplorerOptions { Models = [new ExplorerModelSpec(TestModel.Path)], Port = 0, Limits = limits ?? new ExplorerLimits() });

    /// <summary>Debian's Chromium (never a downloaded browser): $HEADMINER_CHROMIUM or /usr/bin/chromium.</summary>
    public async Task<IBrowser> BrowserAsync()
    {
        await _browserLock.WaitAsync();
        try
        {
            if (_browser is not null) return _browser;
            string executable = Environment.GetEnvironmentVariable("HEADMINER_CHROMIUM") is { Length: > 0 } env ? env : "/usr/bin/chromium";
            if (!File.Exists(executable)) throw new FileNotFoundException($"Chromium not found at {executable}: apt-get install -y chromium (.ci/run does this)", executable);
            _playwright = await Playwright.CreateAsync();
            _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = executable,
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            });
            return _browser;
        }
        finally
        {
            _browserLock.Release();
        }
    }

    public async Task<(int Status, JsonElement Body)> PostAsync(string path, object body)
    {
        using var response = await Http.PostAsJsonAsync(path, body);
        return ((int)response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    public async Task<(int Status, JsonElement Body)> PostRawAsync(string path, string body, string contentType = "application/json")
    {
        using var response = await Http.PostAsync(path, new StringContent(body, Encoding.UTF8, contentType));
        return ((int)response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _playwright?.Dispose();
        Http.Dispose();
        await Server.DisposeAsync();
        _browserLock.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ExplorerCollection : ICollectionFixture<ExplorerFixture>
{
    public const string Name = "explorer";
}
