using System.Diagnostics;
using System.Globalization;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Analysis.Truth;

namespace HeadMiner.Bench;

/// <summary>
/// Circuit discovery against circuits known by construction (<see cref="PlantedCircuits"/>: each kind on GPT-2 and
/// Llama skeletons, seeds 1…--seeds): per method and setting and per circuit, edge precision / recall / F1 and node
/// precision / recall against the planted circuit, the decoy heads included (should be none), the faithfulness of
/// the circuit found (measured by patching everything outside it) and the time. Then a summary per method and
/// setting (circuits passing edge F1 ≥ 0.9, node recall 1 and no decoy), and ACDC's patch evaluations per second
/// against the plain loop (every evaluation a full rerun from the embedding) on the same circuits.
/// Settings: ACDC τ = x · |clean − corrupted| (logit difference) for x in --taus (0.02,0.05,0.1,0.2); EAP and EAP-IG
/// (each step count of --steps, 5,20; eap-ig over inputs, eap-ig-act over activations, eap-ig-recv over receiver inputs,
/// eap-ig-recv{k}-{--max-steps} the same with each receiver's grid refined until its edges meet completeness within 0.05 · the span, at most --max-steps 320) keep the edges with |score| ≥ x · |clean − corrupted| for the same x. Options: --seeds N (3),
/// --methods acdc,eap,eap-ig,eap-ig-act,eap-ig-recv,eap-ig-recv-refined (all), --no-embedded (skip the embedded model's IOI task: <see cref="EmbeddedIoiCircuit"/>), --speed-repeats N (3, its ACDC speed sweeps),
/// --kinds induction,ioi,successor (all), --verbose (every row). The summary is printed per kind and over all circuits.
/// </summary>
public static class CircuitsBench
{
    public static int Run(string[] args)
    {
        int seeds = IntOption(args, "--seeds", 3);
        var kinds = (BenchArgs.Option(args, "--kinds") ?? string.Join(",", PlantedCircuits.Kinds)).Split(',');
        var stepCounts = (BenchArgs.Option(args, "--steps") ?? "5,20").Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        var taus = (BenchArgs.Option(args, "--taus") ?? "0.02,0.05,0.1,0.2").Split(',').Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        bool verbose = args.Contains("--verbose");
        var methods = (BenchArgs.Option(args, "--methods") ?? "acdc,eap,eap-ig,eap-ig-act,eap-ig-recv,eap-ig-recv-refined").Split(',');
        foreach (var m in methods)
            if (m is not ("acdc" or "eap" or "eap-ig" or "eap-ig-act" or "eap-ig-recv" or "eap-ig-recv-refined")) throw new ArgumentException($"--methods {m}: use acdc, eap, eap-ig, eap-ig-act, eap-ig-recv, eap-ig-recv-refined");
        int maxSteps = IntOption(args, "--max-steps", 320);
        var rows = new List<(string Kind, string Method, string Setting, string Circuit, CircuitScore Score, double Faithfulness, int Edges, double Seconds)>();
        // ACDC's speed: the same sweep (τ = the first --taus value) four ways, interleaved per circuit.
        var speed = new AcdcSpeed();
        var circuits = new List<PlantedCircuit>();
        foreach (var kind in kinds)
            foreach (var skeleton in new[] { PlantedSkeleton.Gpt2, PlantedSkeleton.Llama })
                for (ulong seed = 1; seed <= (ulong)seeds; seed++) circuits.Add(PlantedCircuits.Create(kind, skeleton, seed));

        Console.WriteLine($"bench circuits: {circuits.Count} planted circuits, ACDC τ and EAP thresholds × |clean − corrupted| in {{{string.Join(", ", taus)}}}, EAP-IG {string.Join(" and ", stepCounts)} steps");
        foreach (var planted in circuits)
        {
            if (verbose) Console.WriteLine("  " + planted.Describe());
            var graph = CircuitGraph.Create(planted.Model.Config);
            var patcher = EdgePatcher.Create(planted.Model, planted.Pairs, planted.Metric, graph);
            double span = Math.Abs(patcher.CleanMetric - patcher.CorruptedMetric);
            void Add(string method, string setting, Circuit circuit, double seconds)
            {
                var score = CircuitScore.Of(circuit, planted.Edges, planted.Nodes, planted.Decoys);
                var faithful = Faithfulness.Of(patcher, circuit).Value;
                rows.Add((planted.Kind, method, setting, planted.Id, score, faithful, circuit.EdgeCount, seconds));
                if (verbose)
                    Console.WriteLine($"    {method,-7} {setting,-8} edges {circuit.EdgeCount,4}  F1 {score.EdgeF1:0.00}  node R {score.NodeRecall:0.00}  faithfulness {faithful:0.000}  {seconds:0.00} s"
                        + (score.DecoysIncluded.Count > 0 ? $"  decoys {string.Join(",", score.DecoysIncluded)}" : ""));
            }
            if (methods.Contains("acdc"))
            {
                foreach (double x in taus)
                {
                    var clock = Stopwatch.StartNew();
                    var circuit = Acdc.Run(patcher, x * span);
                    Add("acdc", $"τ={x}", circuit, clock.Elapsed.TotalSeconds);
                }
                speed.Measure(planted.Model, planted.Pairs, planted.Metric, graph, taus[0] * span);
            }
            foreach (var scorer in CircuitScorers.Selected(methods, stepCounts, maxSteps))
            {
                string method = scorer.Name;
                var clock = Stopwatch.StartNew();
                var scores = scorer.Score(planted.Model, planted.Pairs, planted.Metric, graph);
                double scoring = clock.Elapsed.TotalSeconds;
                foreach (double x in taus)
                {
                    var kept = scores.Select(s => Math.Abs(s) >= x * span).ToArray();
                    var circuit = new Circuit(graph, kept, scores, method, new Dictionary<string, string> { ["threshold"] = x.ToString(CultureInfo.InvariantCulture) });
                    Add(method, $"≥{x}", circuit, scoring);
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine("| circuits | method | setting | circuits passing (F1 ≥ 0.9, node R = 1, no decoy) | mean edge P | mean edge R | mean edge F1 | min edge F1 | mean node P | min node R | decoys included | mean faithfulness | mean time (s) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        var scopes = kinds.Length > 1 ? [.. kinds, "all"] : kinds;
        foreach (var scope in scopes)
        {
            foreach (var group in rows.Where(r => scope == "all" || r.Kind == scope).GroupBy(r => (r.Method, r.Setting)))
            {
                var g = group.ToList();
                int pass = g.Count(r => r.Score.EdgeF1 >= 0.9 && r.Score.NodeRecall == 1 && r.Score.DecoysIncluded.Count == 0);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {scope} | {group.Key.Method} | {group.Key.Setting} | {pass}/{g.Count} | {g.Average(r => r.Score.EdgePrecision):0.000} | {g.Average(r => r.Score.EdgeRecall):0.000} | {g.Average(r => r.Score.EdgeF1):0.000} | {g.Min(r => r.Score.EdgeF1):0.000} | {g.Average(r => r.Score.NodePrecision):0.000} | {g.Min(r => r.Score.NodeRecall):0.000} | {g.Sum(r => r.Score.DecoysIncluded.Count)} | {g.Average(r => r.Faithfulness):0.000} | {g.Average(r => r.Seconds):0.000} |"));
            }
        }
        Console.WriteLine();
        Console.WriteLine("Per circuit at each method's best setting (most circuits passing):");
        foreach (var method in rows.Select(r => r.Method).Distinct())
        {
            var best = rows.Where(r => r.Method == method).GroupBy(r => r.Setting)
                .OrderByDescending(s => s.Count(r => r.Score.EdgeF1 >= 0.9 && r.Score.NodeRecall == 1 && r.Score.DecoysIncluded.Count == 0))
                .ThenByDescending(s => s.Average(r => r.Score.EdgeF1)).First();
            foreach (var r in best)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {method,-11} {r.Setting,-7} {r.Circuit,-22} edges {r.Edges,4}  P {r.Score.EdgePrecision:0.00} R {r.Score.EdgeRecall:0.00} F1 {r.Score.EdgeF1:0.00}  node P {r.Score.NodePrecision:0.00} R {r.Score.NodeRecall:0.00}  decoys {r.Score.DecoysIncluded.Count}  faithfulness {r.Faithfulness:0.000}  {r.Seconds:0.000} s"));
        }
        Console.WriteLine();
        if (methods.Contains("acdc") && circuits.Count > 0) speed.Print($"τ = {taus[0]} · |clean − corrupted|, {circuits.Count} planted circuits");
        if (!args.Contains("--no-embedded")) EmbeddedIoiCircuit.Run(taus, stepCounts, methods, IntOption(args, "--speed-repeats", 3), maxSteps);
        return 0;
    }

    private static int IntOption(string[] args, string name, int fallback) =>
        BenchArgs.Option(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
}
