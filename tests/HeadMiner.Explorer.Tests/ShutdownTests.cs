using HeadMiner.Analysis.Atlas;

namespace HeadMiner.Explorer.Tests;

/// <summary>
/// Stopping the server (what `headminer serve` does on SIGINT/SIGTERM): requests in flight finish within the drain
/// time and get their answer; past it they are cut off, and the report says which happened. A request is held in
/// flight by an atlas provider that waits for the test, so nothing here depends on how fast the machine is.
/// </summary>
public sealed class ShutdownTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_request_in_flight_when_the_stop_begins_still_gets_its_answer()
    {
        var provider = new HeldAtlasProvider();
        await using var server = await Start(provider);
        using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
        var request = http.GetAsync($"/api/atlas?model={TestModel.Id}");
        await provider.Entered.Task.WaitAsync(Patience);
        Assert.Equal(1, server.InFlight);

        var stopping = server.StopAsync(Patience);
        await Began(server.Stopping);
        provider.Release();
        using var response = await request.WaitAsync(Patience);
        Assert.Equal(200, (int)response.StatusCode);
        var drain = await stopping.WaitAsync(Patience);
        Assert.Equal(new ServerDrain(1, 0, Patience), drain);
        Assert.Equal("1 request in flight finished", drain.Describe());
    }

    [Fact]
    public async Task A_request_still_running_when_the_drain_time_is_up_is_cut_off_and_counted()
    {
        var provider = new HeldAtlasProvider();
        await using var server = await Start(provider);
        using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
        var request = http.GetAsync($"/api/atlas?model={TestModel.Id}");
        await provider.Entered.Task.WaitAsync(Patience);

        // The provider is released only after the stop returned: the request is certainly running at the limit.
        var drain = await server.StopAsync(TimeSpan.FromMilliseconds(200)).WaitAsync(Patience);
        provider.Release();
        Assert.Equal(new ServerDrain(1, 1, TimeSpan.FromMilliseconds(200)), drain);
        Assert.Equal("cut off 1 of 1 request in flight after 0.2 s", drain.Describe());
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => request.WaitAsync(Patience));
    }

    [Fact]
    public async Task A_stop_with_nothing_in_flight_says_so()
    {
        await using var server = await Start(new HeldAtlasProvider());
        var drain = await server.StopAsync(Patience).WaitAsync(Patience);
        Assert.Equal("no request was in flight", drain.Describe());
    }

    [Fact]
    public async Task Disposing_the_server_stops_an_on_demand_atlas_and_waits_for_it_before_the_models_go()
    {
        // The models' weights are memory-mapped: a computation still reading them after the unmap crashed the process.
        var provider = new UntilCancelledAtlasProvider();
        var server = await Start(provider);
        using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
        _ = http.GetAsync($"/api/atlas?model={TestModel.Id}").ContinueWith(t => t.Exception, TaskScheduler.Default);
        await provider.Entered.Task.WaitAsync(Patience);
        await server.DisposeAsync().AsTask().WaitAsync(Patience);
        Assert.True(provider.Ended, "the server was disposed while the atlas computation was still running");
    }

    private static Task<ExplorerServer> Start(IAtlasProvider provider) => ExplorerServer.StartAsync(new ExplorerOptions
    {
        Models = [new ExplorerModelSpec(TestModel.Path)],
        Port = 0,
        Limits = new ExplorerLimits { RequestTimeout = Patience },
        AtlasOnDemand = provider,
    });

    private static async Task Began(CancellationToken stopping)
    {
        var began = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (stopping.Register(() => began.TrySetResult()))
            await began.Task.WaitAsync(Patience);
    }

    /// <summary>Runs until cancelled, then takes a little longer to wind down (as a detector finishing its layer does).</summary>
    private sealed class UntilCancelledAtlasProvider : IAtlasProvider
    {
        private volatile bool _ended;

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Ended => _ended;

        public AtlasReport? Compute(ExplorerModel model, IProgress<AtlasProgress>? progress, CancellationToken cancellation)
        {
            Entered.TrySetResult();
            cancellation.WaitHandle.WaitOne(Patience);
            Thread.Sleep(300);
            _ended = true;
            cancellation.ThrowIfCancellationRequested();
            return null;
        }
    }

    /// <summary>Returns the real atlas of the test model, but only once the test releases it.</summary>
    private sealed class HeldAtlasProvider : IAtlasProvider
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _release.TrySetResult();

        public AtlasReport? Compute(ExplorerModel model, IProgress<AtlasProgress>? progress, CancellationToken cancellation)
        {
            var atlas = TestModel.Atlas;
            Entered.TrySetResult();
            _release.Task.Wait(cancellation);
            return atlas;
        }
    }
}
