using System.Diagnostics;
using System.Globalization;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Bench;

/// <summary>
/// ACDC's patch evaluations per second, three ways on the same sweeps, interleaved (in an order that rotates from
/// sweep to sweep) so that a changing machine load hits all three alike: speculative batches resumed at the
/// receiver's layer, one candidate at a time resumed at the receiver's layer (what <see cref="Acdc.Run"/> does by
/// default), and the naive loop (one candidate at a time, each a full forward from the embedding). An evaluation is
/// one edge tried by the sweep (the sequential algorithm's count, equal for all three since they give the same
/// circuit); the batches' dropped speculative copies are counted apart, as work that bought nothing. Rates are given
/// per second of this process's CPU time (what a shared, loaded machine distorts least) and of wall time.
/// </summary>
public sealed class AcdcSpeed
{
    private static readonly string[] Names =
    [
        "speculative batches, resumed at the receiver's layer",
        "one at a time, resumed at the receiver's layer",
        "naive loop (one full forward per evaluation)",
    ];

    private readonly double[] _wall = new double[3];
    private readonly double[] _cpu = new double[3];
    private long _tried;
    private long _discarded;
    private long _batchedForwards;
    private int _sweeps;

    public void Measure(Transformer model, TokenizedPairs pairs, MetricKind metric, CircuitGraph graph, double tau)
    {
        var batched = EdgePatcher.Create(model, pairs, metric, graph);
        var resumed = new EdgePatcher(model, batched.Metric, graph);
        var naive = new EdgePatcher(model, batched.Metric, graph) { FullReruns = true };
        var states = new AcdcState[3];
        var circuits = new Circuit[3];
        var contenders = new (EdgePatcher Patcher, int PerRun)[] { (batched, 0), (resumed, 1), (naive, 1) };
        using var process = Process.GetCurrentProcess();
        for (int n = 0; n < 3; n++)
        {
            int i = (n + _sweeps) % 3;
            states[i] = AcdcState.Start(contenders[i].Patcher, tau);
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            circuits[i] = Acdc.Run(contenders[i].Patcher, tau, states[i], candidatesPerRun: contenders[i].PerRun);
            _wall[i] += clock.Elapsed.TotalSeconds;
            process.Refresh();
            _cpu[i] += (process.TotalProcessorTime - cpu).TotalSeconds;
        }
        for (int i = 1; i < 3; i++)
            if (!circuits[i].Kept.SequenceEqual(circuits[0].Kept) || states[i].Tried != states[0].Tried)
                throw new InvalidOperationException("ACDC's batched and sequential sweeps disagree");
        _sweeps++;
        _tried += states[0].Tried;
        _discarded += states[0].Discarded;
        _batchedForwards += batched.Forwards;
    }

    public void Print(string what)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ACDC patch evaluations per second ({what}; {_tried} edges tried by each over {_sweeps} sweeps, the three interleaved):"));
        for (int i = 0; i < 3; i++)
        {
            string note = i == 0 ? $"; {_batchedForwards} forwards, {_discarded} speculative copies dropped" : "";
            string ratio = i == 2 ? "" : string.Create(CultureInfo.InvariantCulture, $": {_cpu[2] / _cpu[i]:0.00}× the naive loop by CPU time, {_wall[2] / _wall[i]:0.00}× by wall time");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {Names[i],-54} {_tried / _cpu[i],6:0} /s CPU ({_cpu[i]:0.00} s), {_tried / _wall[i],6:0} /s wall ({_wall[i]:0.00} s{note}){ratio}"));
        }
    }
}
