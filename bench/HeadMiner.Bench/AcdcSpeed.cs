using System.Diagnostics;
using System.Globalization;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Bench;

/// <summary>
/// ACDC's patch evaluations per second, four ways on the same sweeps, interleaved (in an order that rotates from
/// sweep to sweep) so that a changing machine load hits all alike: one candidate at a time recomputing only what the
/// patch changes (<see cref="PatchedForward"/>: what <see cref="Acdc.Run"/> does by default), speculative batches of
/// whole layers resumed at the receiver's layer, one candidate at a time the same way (the default before), and the
/// naive loop (one candidate at a time, each a full forward from the embedding). An evaluation is one edge tried by
/// the sweep (the sequential algorithm's count, equal for all since they give the same circuit); the batches' dropped
/// speculative copies are counted apart, as work that bought nothing. Rates are given per second of this process's
/// CPU time (what a shared, loaded machine distorts least) and of wall time.
/// </summary>
public sealed class AcdcSpeed
{
    private static readonly string[] Names =
    [
        "one at a time, recomputing only what the patch changes",
        "speculative batches, whole layers from the receiver's",
        "one at a time, whole layers from the receiver's",
        "naive loop (one full forward per evaluation)",
    ];

    private const int Contenders = 4;
    private const int Naive = Contenders - 1;
    private const int Batched = 1;

    private readonly double[] _wall = new double[Contenders];
    private readonly double[] _cpu = new double[Contenders];
    private long _tried;
    private long _discarded;
    private long _batchedForwards;
    private int _sweeps;

    public void Measure(Transformer model, TokenizedPairs pairs, MetricKind metric, CircuitGraph graph, double tau)
    {
        var partial = EdgePatcher.Create(model, pairs, metric, graph);
        var batched = new EdgePatcher(model, partial.Metric, graph) { WholeLayers = true };
        var resumed = new EdgePatcher(model, partial.Metric, graph) { WholeLayers = true };
        var naive = new EdgePatcher(model, partial.Metric, graph) { FullReruns = true };
        var states = new AcdcState[Contenders];
        var circuits = new Circuit[Contenders];
        var contenders = new (EdgePatcher Patcher, int PerRun)[] { (partial, 1), (batched, 0), (resumed, 1), (naive, 1) };
        using var process = Process.GetCurrentProcess();
        for (int n = 0; n < Contenders; n++)
        {
            int i = (n + _sweeps) % Contenders;
            states[i] = AcdcState.Start(contenders[i].Patcher, tau);
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            circuits[i] = Acdc.Run(contenders[i].Patcher, tau, states[i], candidatesPerRun: contenders[i].PerRun);
            _wall[i] += clock.Elapsed.TotalSeconds;
            process.Refresh();
            _cpu[i] += (process.TotalProcessorTime - cpu).TotalSeconds;
        }
        for (int i = 1; i < Contenders; i++)
            if (!circuits[i].Kept.SequenceEqual(circuits[0].Kept) || states[i].Tried != states[0].Tried)
                throw new InvalidOperationException("ACDC's sweeps disagree");
        _sweeps++;
        _tried += states[0].Tried;
        _discarded += states[Batched].Discarded;
        _batchedForwards += batched.Forwards;
    }

    public void Print(string what)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ACDC patch evaluations per second ({what}; {_tried} edges tried by each over {_sweeps} sweeps, the {Contenders} interleaved):"));
        for (int i = 0; i < Contenders; i++)
        {
            string note = i == Batched ? $"; {_batchedForwards} forwards, {_discarded} speculative copies dropped" : "";
            string ratio = i == Naive ? "" : string.Create(CultureInfo.InvariantCulture, $": {_cpu[Naive] / _cpu[i]:0.00}× the naive loop by CPU time, {_wall[Naive] / _wall[i]:0.00}× by wall time");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {Names[i],-54} {_tried / _cpu[i],6:0} /s CPU ({_cpu[i]:0.00} s), {_tried / _wall[i],6:0} /s wall ({_wall[i]:0.00} s{note}){ratio}"));
        }
    }
}
