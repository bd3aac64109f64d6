using Orleans;

namespace HeadMiner.Cluster;

/// <summary>
/// One run on the cluster: what every worker needs to redo its part exactly. The model is addressed as the user named
/// it (a path, or a hub id each worker resolves in its own cache); <see cref="Fingerprint"/> is the coordinator's hash
/// of the model's files, which every worker must match (<see cref="ModelFingerprint"/>).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record RunSpec
{
    [Id(0)] public required string RunId { get; init; }

    /// <summary>"atlas", "patch" or "attrib".</summary>
    [Id(1)] public required string Kind { get; init; }

    [Id(2)] public required string Model { get; init; }

    [Id(3)] public required bool Process { get; init; }

    [Id(4)] public required bool WeightsOnly { get; init; }

    [Id(5)] public required bool AllowUnused { get; init; }

    [Id(6)] public required string Fingerprint { get; init; }

    /// <summary>The job's own settings as JSON (<see cref="AtlasJob"/> or <see cref="PatchJob"/>).</summary>
    [Id(7)] public required string Job { get; init; }

    /// <summary>How long a worker holds a unit without renewing before it goes back to the queue.</summary>
    [Id(8)] public double LeaseSeconds { get; init; } = 30;
}

/// <summary>A unit leased to a worker: its run, its index and what it covers (JSON the run's kind reads).</summary>
[GenerateSerializer, Immutable]
public sealed record UnitLease(
    [property: Id(0)] RunSpec Run,
    [property: Id(1)] int Unit,
    [property: Id(2)] string Payload,
    [property: Id(3)] string Description,
    [property: Id(4)] double LeaseSeconds);

/// <summary>A finished unit's result, as the run's kind serialises it.</summary>
[GenerateSerializer, Immutable]
public sealed record UnitResult(
    [property: Id(0)] int Unit,
    [property: Id(1)] string Worker,
    [property: Id(2)] string Result);

/// <summary>One worker as the coordinator sees it.</summary>
[GenerateSerializer, Immutable]
public sealed record WorkerProgress(
    [property: Id(0)] string Worker,
    [property: Id(1)] int UnitsDone,
    [property: Id(2)] string? Running,
    [property: Id(3)] double SecondsSinceSeen);

/// <summary>Where a run stands: its units, who did what, the results the caller has not collected yet, and a failure.</summary>
[GenerateSerializer, Immutable]
public sealed record RunStatus
{
    [Id(0)] public required string RunId { get; init; }

    /// <summary>False when the coordinator does not know the run (a fresh activation after a restart): submit it again.</summary>
    [Id(1)] public required bool Known { get; init; }

    [Id(2)] public int Units { get; init; }

    [Id(3)] public int Done { get; init; }

    [Id(4)] public IReadOnlyList<UnitResult> NewResults { get; init; } = [];

    [Id(5)] public IReadOnlyList<WorkerProgress> Workers { get; init; } = [];

    [Id(6)] public string? Failure { get; init; }

    /// <summary>Units re-queued because their worker stopped renewing its lease (it died or hung).</summary>
    [Id(7)] public int Requeued { get; init; }

    /// <summary>The silo the coordinator runs on.</summary>
    [Id(8)] public string Silo { get; init; } = "";
}

/// <summary>
/// The coordinator: one activation (key <see cref="CoordinatorGrain.Key"/>) plans each run into units, leases them to
/// workers that ask, re-queues a unit whose lease lapses, and holds finished results until the submitting client
/// collects them (the client persists them next to its output, so a restarted coordinator or client resumes).
/// </summary>
public interface ICoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Registers (or re-registers) a run; <paramref name="done"/> are units whose results the caller already has.</summary>
    Task<RunStatus> Submit(RunSpec run, int[] done);

    Task<UnitLease?> Lease(string worker);

    /// <summary>The worker still runs the unit: extends its lease. False when the unit is no longer the worker's.</summary>
    Task<bool> Renew(string worker, string runId, int unit);

    Task Complete(string worker, string runId, int unit, string result);

    /// <summary>The unit cannot be done (a wrong model, a bad setting): the run fails with this message.</summary>
    Task Fail(string worker, string runId, int unit, string message);

    /// <summary>The run's status; results already collected (<paramref name="collected"/>) are not sent again.</summary>
    Task<RunStatus> Status(string runId, int[] collected);

    Task Forget(string runId);
}
