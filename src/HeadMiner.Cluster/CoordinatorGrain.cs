using System.Diagnostics;
using Orleans;
using Orleans.Runtime;

namespace HeadMiner.Cluster;

/// <summary>
/// The one coordinator (<see cref="ICoordinatorGrain"/>). Work is pulled, not pushed: each silo's
/// <see cref="WorkerLoop"/> asks for a unit when it is free, so a silo that joins mid-run simply starts asking, and a
/// silo that dies stops renewing its leases, whose units go back to the queue after <see cref="RunSpec.LeaseSeconds"/>
/// for another worker to take. Results stay here until the submitting client collects them; the client journals them
/// beside its output, and a coordinator that lost its state (its silo died; a fresh activation) answers
/// <see cref="RunStatus.Known"/> = false, upon which the client submits the run again with what it already has.
/// </summary>
public sealed class CoordinatorGrain(ModelHost models, ILocalSiloDetails silo) : Grain, ICoordinatorGrain
{
    public const string Key = "coordinator";

    private readonly Dictionary<string, RunState> _runs = [];
    private readonly Dictionary<string, WorkerState> _workers = [];

    private string SiloName => silo.SiloAddress.ToString();

    public async Task<RunStatus> Submit(RunSpec run, int[] done)
    {
        if (!_runs.TryGetValue(run.RunId, out var state))
        {
            IReadOnlyList<UnitRunner.PlannedUnit> units;
            try
            {
                // Planning reads the model (an atlas groups detectors by their causal task): off the grain's turn.
                units = await Task.Run(() => UnitRunner.Plan(run, models.Get(run)));
            }
            catch (HeadMinerException e)
            {
                return new RunStatus { RunId = run.RunId, Known = true, Failure = $"coordinator on {SiloName}: {e.Message}", Silo = SiloName };
            }
            state = new RunState(run, units);
            _runs[run.RunId] = state;
        }
        foreach (int unit in done)
        {
            if ((uint)unit >= (uint)state.Units.Count) continue;
            state.Phase[unit] = UnitPhase.Done;
            state.Collected.Add(unit);
        }
        return Describe(state, []);
    }

    public Task<UnitLease?> Lease(string worker)
    {
        var w = Seen(worker);
        RequeueLapsed();
        foreach (var state in _runs.Values)
        {
            if (state.Failure is not null) continue;
            int unit = Array.IndexOf(state.Phase, UnitPhase.Pending);
            if (unit < 0) continue;
            state.Phase[unit] = UnitPhase.Leased;
            state.Holder[unit] = worker;
            state.Deadline[unit] = Stopwatch.GetTimestamp() + Ticks(state.Run.LeaseSeconds);
            w.Running = state.Units[unit].Description;
            return Task.FromResult<UnitLease?>(new UnitLease(state.Run, unit, state.Units[unit].Payload, state.Units[unit].Description, state.Run.LeaseSeconds));
        }
        w.Running = null;
        return Task.FromResult<UnitLease?>(null);
    }

    public Task<bool> Renew(string worker, string runId, int unit)
    {
        Seen(worker);
        if (!_runs.TryGetValue(runId, out var state) || (uint)unit >= (uint)state.Units.Count) return Task.FromResult(false);
        if (state.Phase[unit] != UnitPhase.Leased || state.Holder[unit] != worker) return Task.FromResult(false);
        state.Deadline[unit] = Stopwatch.GetTimestamp() + Ticks(state.Run.LeaseSeconds);
        return Task.FromResult(true);
    }

    public Task Complete(string worker, string runId, int unit, string result)
    {
        var w = Seen(worker);
        w.Running = null;
        if (!_runs.TryGetValue(runId, out var state) || (uint)unit >= (uint)state.Units.Count) return Task.CompletedTask;
        // A unit re-run after its lease lapsed may finish twice; the results are the same, the first one counts.
        if (state.Phase[unit] == UnitPhase.Done) return Task.CompletedTask;
        state.Phase[unit] = UnitPhase.Done;
        state.Results[unit] = new UnitResult(unit, worker, result);
        w.UnitsDone++;
        return Task.CompletedTask;
    }

    public Task Fail(string worker, string runId, int unit, string message)
    {
        var w = Seen(worker);
        w.Running = null;
        if (_runs.TryGetValue(runId, out var state)) state.Failure ??= message;
        return Task.CompletedTask;
    }

    public Task<RunStatus> Status(string runId, int[] collected)
    {
        RequeueLapsed();
        if (!_runs.TryGetValue(runId, out var state)) return Task.FromResult(new RunStatus { RunId = runId, Known = false, Silo = SiloName });
        foreach (int unit in collected)
        {
            if ((uint)unit >= (uint)state.Units.Count) continue;
            state.Collected.Add(unit);
            state.Results[unit] = null; // the client has it on disk now
        }
        return Task.FromResult(Describe(state, collected));
    }

    public Task Forget(string runId)
    {
        _runs.Remove(runId);
        return Task.CompletedTask;
    }

    private RunStatus Describe(RunState state, int[] collected) => new()
    {
        RunId = state.Run.RunId,
        Known = true,
        Units = state.Units.Count,
        Done = state.Phase.Count(p => p == UnitPhase.Done),
        NewResults = [.. state.Results.Where(r => r is not null && !state.Collected.Contains(r.Unit)).Select(r => r!)],
        Workers = [.. _workers.OrderBy(w => w.Key, StringComparer.Ordinal)
            .Select(w => new WorkerProgress(w.Key, w.Value.UnitsDone, w.Value.Running, Stopwatch.GetElapsedTime(w.Value.LastSeen).TotalSeconds))],
        Failure = state.Failure,
        Requeued = state.Requeued,
        Silo = SiloName,
    };

    private WorkerState Seen(string worker)
    {
        if (!_workers.TryGetValue(worker, out var w)) _workers[worker] = w = new WorkerState();
        w.LastSeen = Stopwatch.GetTimestamp();
        return w;
    }

    private void RequeueLapsed()
    {
        long now = Stopwatch.GetTimestamp();
        foreach (var state in _runs.Values)
        {
            for (int unit = 0; unit < state.Units.Count; unit++)
            {
                if (state.Phase[unit] != UnitPhase.Leased || state.Deadline[unit] > now) continue;
                state.Phase[unit] = UnitPhase.Pending;
                if (state.Holder[unit] is { } holder && _workers.TryGetValue(holder, out var w) && w.Running == state.Units[unit].Description) w.Running = null;
                state.Holder[unit] = null;
                state.Requeued++;
            }
        }
    }

    private static long Ticks(double seconds) => (long)(seconds * Stopwatch.Frequency);

    private enum UnitPhase { Pending, Leased, Done }

    private sealed class RunState(RunSpec run, IReadOnlyList<UnitRunner.PlannedUnit> units)
    {
        public RunSpec Run { get; } = run;
        public IReadOnlyList<UnitRunner.PlannedUnit> Units { get; } = units;
        public UnitPhase[] Phase { get; } = new UnitPhase[units.Count];
        public string?[] Holder { get; } = new string?[units.Count];
        public long[] Deadline { get; } = new long[units.Count];
        public UnitResult?[] Results { get; } = new UnitResult?[units.Count];
        public HashSet<int> Collected { get; } = [];
        public string? Failure { get; set; }
        public int Requeued { get; set; }
    }

    private sealed class WorkerState
    {
        public int UnitsDone { get; set; }
        public string? Running { get; set; }
        public long LastSeen { get; set; }
    }
}
