using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Cluster;
using HeadMiner.Hooks;
using HeadMiner.Reports;
using HeadMiner.Reports.Tables;
using HeadMiner.Tensors;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer atlas`: the main job — what does each attention head of this model do? Runs every applicable detector
/// (on the embedded model when --model is absent), confirms task-measured types by ablation, prints a summary table
/// and writes atlas.json (docs/ATLAS.md) and atlas.html.
/// </summary>
public static class AtlasCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var detectors = new Option<string?>("--detectors", "-d") { Description = $"Comma-separated detector ids (default: all): {string.Join(", ", DetectorRegistry.Ids)}" };
        var output = new Option<string>("--out", "-o") { Description = "Directory for atlas.json, atlas.html, atlas_scores.csv and atlas_scores.safetensors", DefaultValueFactory = _ => "atlas" };
        var parquet = TableOptions.Parquet();
        var seed = new Option<ulong>("--seed") { Description = "Seed of every random prompt and draw", DefaultValueFactory = _ => new DetectorOptions().Seed };
        var prompts = new Option<int>("--prompts") { Description = "Prompts per detector", DefaultValueFactory = _ => new DetectorOptions().Prompts };
        var maxPrompts = new Option<int?>("--max-prompts") { Description = $"Prompt budget: while a head's 95% interval straddles its threshold the prompts double up to this (default {new DetectorOptions().MaxPrompts}, at least --prompts)" };
        var causalHeads = new Option<int>("--causal-heads") { Description = "Most labelled heads per type ablated (alone and together) and graded in a causal check", DefaultValueFactory = _ => new AtlasOptions().CausalHeads };
        var randomHeads = new Option<int>("--causal-random-heads") { Description = "Random single heads each alone effect is ranked among (all unlabelled heads up to this many, else a seeded sample)", DefaultValueFactory = _ => new AtlasOptions().RandomHeads };
        var draws = new Option<int>("--causal-draws") { Description = "Random sets of as many heads the labelled heads' together effect is ranked among", DefaultValueFactory = _ => new AtlasOptions().RandomDraws };
        var process = ModelOptions.Process();
        var weightsOnly = ModelOptions.WeightsOnly();
        var precision = ModelOptions.Precision();
        var cluster = ClusterOptions.Config();
        var noCircuits = new Option<bool>("--no-circuits") { Description = "Skip the circuits section (each task's circuit by EAP-IG, its faithfulness by patching, its heads' roles)" };
        var withCircuits = new Option<bool>("--circuits") { Description = $"Find the circuits even with -d or on a model over {AtlasOptions.AutoCircuitsMaxParameters / 1_000_000} M parameters (by default they are found for a whole atlas of a smaller model)" };
        var command = new Command("atlas", "Map what every attention head of a model does: detectors for the survey's head types, causal checks, atlas.json + atlas.html.")
        {
            model, detectors, output, parquet, seed, prompts, maxPrompts, causalHeads, randomHeads, draws, process, weightsOnly, allowUnused, precision, cluster, noCircuits, withCircuits,
        };
        command.SetAction((parse, cancel) =>
        {
            if (parse.GetValue(noCircuits) && parse.GetValue(withCircuits)) throw new UsageException("--circuits and --no-circuits contradict each other; give one");
            var options = new AtlasOptions
            {
                Detectors = parse.GetValue(detectors),
                Detector = new DetectorOptions
                {
                    Seed = parse.GetValue(seed),
                    Prompts = parse.GetValue(prompts),
                    MaxPrompts = parse.GetValue(maxPrompts) ?? Math.Max(parse.GetValue(prompts), new DetectorOptions().MaxPrompts),
                },
                CausalHeads = parse.GetValue(causalHeads),
                RandomHeads = parse.GetValue(randomHeads),
                RandomDraws = parse.GetValue(draws),
                Circuits = parse.GetValue(noCircuits) ? false : parse.GetValue(withCircuits) ? true : null,
            };
            int detectorCount;
            try
            {
                options.Validate();
                detectorCount = DetectorRegistry.Parse(options.Detectors).Count;
            }
            catch (HeadMinerException e)
            {
                throw new UsageException(e.Message);
            }
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            // A bad cluster config is an error before any work.
            var clusterConfig = parse.GetValue(cluster) is { } clusterPath ? ClusterOptions.Load(clusterPath) : null;
            var job = new AtlasJob
            {
                Detectors = options.Detectors,
                Seed = options.Detector.Seed,
                Prompts = options.Detector.Prompts,
                MaxPrompts = options.Detector.MaxPrompts,
                CausalHeads = options.CausalHeads,
                RandomHeads = options.RandomHeads,
                RandomDraws = options.RandomDraws,
            };
            string dir = OutputFiles.PrepareDirectory(parse.GetValue(output)!);
            bool partial = parse.GetValue(weightsOnly);
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), partial, allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            var arithmetic = ModelOptions.ApplyPrecision(loaded, parse.GetValue(precision));
            // Workers load the model themselves in float32 arithmetic: a bf16 cluster atlas would silently mix the two.
            if (clusterConfig is not null && arithmetic != ArithmeticPrecision.Fp32)
                throw new UsageException("--precision bf16 is not carried to cluster workers yet; run the atlas with --cluster in fp32, or without --cluster");
            var c = loaded.Model.Config;
            try
            {
                options = options.ForModel(loaded);
            }
            catch (HeadMinerException e)
            {
                throw new UsageException(e.Message);
            }
            var info = AtlasModel.Of(loaded, partial);
            stdout.WriteLine($"atlas of {loaded.Path}: {c.Architecture}, {c.Layers} layers × {c.Heads} heads{(partial ? ", weights only" : "")}; arithmetic: {ModelOptions.DescribePrecision(arithmetic)}");
            foreach (var note in options.Notes) stdout.WriteLine(note);
            var clock = Stopwatch.StartNew();
            var progress = new ProgressLines(stderr.WriteLine);
            AtlasReport atlas;
            RunSpec? run = null;
            try
            {
                if (clusterConfig is not null)
                {
                    // The workers build their options from the same job and the same files: so does this side.
                    options = job.Options().ForModel(loaded) with { Circuits = options.Circuits };
                    if (loaded.Model.Weights.IsRunnable) FiniteForward.CheckProbe(loaded.Model, $"atlas of {loaded.Path}");
                    run = ClusterCommands.Spec("atlas", parse.GetValue(model), loaded, parse.GetValue(process), partial, parse.GetValue(allowUnused), JobJson.Write(job), clusterConfig);
                    var results = ClusterRun.Execute(clusterConfig, run, dir, ClusterOptions.Progress(stderr), cancel).GetAwaiter().GetResult();
                    // The circuits read the assembled labels: they are found here, as a single process finds them.
                    atlas = AtlasCircuitRunner.Add(AtlasRunner.Assemble(loaded.Model, info, options, UnitRunner.AtlasOutcomes(results)), loaded.Model, loaded.Tokenizer, options, null, cancel);
                }
                else
                {
                    atlas = ProgressDisplay.Run<AtlasProgress, AtlasReport>(stderr, "atlas", () => progress, bar => progress = new ProgressLines(bar.Line, bar),
                        p => AtlasRunner.Run(loaded.Model, loaded.Tokenizer, info, options, p, cancel));
                }
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                // atlas.json is written once, at the end: a stop leaves an earlier atlas in --out as it was.
                throw new CommandStoppedException(run is not null
                    ? $"atlas stopped; the units finished so far are journaled in {ClusterRun.JournalDirectory(dir, run.RunId)}: the same command resumes from them"
                    : $"atlas stopped after {progress.Finished} of {detectorCount} detectors; nothing written");
            }
            string jsonPath = Path.Combine(dir, "atlas.json"), htmlPath = Path.Combine(dir, "atlas.html");
            var written = atlas.Write(jsonPath);
            if (written.NonFinite.Count > 0) stderr.WriteLine(written.Describe(jsonPath));
            AtlasHtml.Build(atlas).Write(htmlPath);
            string scoresPath = Path.Combine(dir, "atlas_scores.csv"), tensorsPath = Path.Combine(dir, "atlas_scores.safetensors");
            var tables = OutputFiles.WriteTable(scoresPath, AtlasScores.Header, AtlasScores.Rows(atlas), parse.GetValue(parquet));
            AtlasScores.Tensors(atlas).Save(tensorsPath);
            if (run is not null) ClusterRun.Finish(dir, run.RunId);

            stdout.WriteLine();
            stdout.WriteLine($"{"head",-7} {"type",-22} {"stage",-5} {"score",7} {"95% interval",-16} {"null FPR",-9} causal: effect alone (percentile among random heads, ablation), grade");
            int rows = 0;
            foreach (var head in atlas.Heads)
            {
                foreach (var label in head.Labels)
                {
                    var causal = atlas.Detectors.FirstOrDefault(d => d.HeadType == label.Type && d.Causal is not null)?.Causal;
                    var e = causal?.For(head.Layer, head.Head);
                    string effect = causal is null ? "— (no task metric)"
                        : e is null ? "— (not ablated: beyond --causal-heads)"
                        : $"{Signed(e.EffectAlone)} (p{Percent(e.PercentileAlone)}, {e.Ablation}) {e.Grade}" + (e.Grade == AtlasCausal.Confirmed && !(e.PercentileAlone >= CausalConfirmation.ConfirmPercentile)
                            ? $" with its set: together p{Percent(e.PercentileTogether)}, leave-one-out {Signed(e.Alone.First(a => a.Ablation == e.Ablation).Marginal)}"
                            : "");
                    string interval = label.Interval is [var low, var high] ? $"[{low:0.000}, {high:0.000}]" : "";
                    string fpr = label.FalsePositiveRate is double rate ? (rate < 0.001 ? "<0.001" : rate.ToString("0.###", CultureInfo.InvariantCulture)) : "—";
                    stdout.WriteLine($"{$"L{head.Layer}H{head.Head}",-7} {label.Type,-22} {label.Stage ?? "",-5} {label.Score,7:0.000} {interval,-16} {fpr,-9} {effect}");
                    rows++;
                }
            }
            if (atlas.Literature is { } literature)
            {
                stdout.WriteLine();
                stdout.WriteLine($"agreement with the literature ({literature.ModelId}, fingerprint {literature.Fingerprint}): {literature.Agrees} agree, {literature.Disagrees} disagree, {literature.NotMeasurable} not measurable here");
            }
            var metrics = atlas.Detectors.Where(d => d.Causal is not null && d.Causal.PerHead.Any(h => h.Labelled)).ToList();
            if (metrics.Count > 0)
            {
                stdout.WriteLine();
                stdout.WriteLine("causal metrics (effect = how much worse the metric gets; percentiles among unlabelled heads ablated alone):");
                foreach (var d in metrics) stdout.WriteLine($"  {d.HeadType ?? d.Id}: {d.Causal!.Metric}");
            }
            if (rows == 0) stdout.WriteLine(atlas.Composition is null ? "(no head passes any detector's threshold)" : "(no head is labelled with a head type; the composition analysis follows)");
            if (atlas.Composition is { } composition)
            {
                stdout.WriteLine();
                stdout.WriteLine($"strongest composition between heads (random baseline {composition.Baseline:0.000}):");
                foreach (var kind in new[] { "k", "q", "v" })
                {
                    var top = composition.TopPairs(kind, c.Heads, 5);
                    if (top.Count == 0) continue;
                    stdout.WriteLine($"  {kind.ToUpperInvariant()}: " + string.Join(", ", top.Select(p => $"L{p.SenderLayer}H{p.SenderHead} → L{p.ReceiverLayer}H{p.ReceiverHead} {p.Score:0.000}")));
                }
            }
            if (atlas.Circuits is { } circuits)
            {
                stdout.WriteLine();
                if (circuits.Status != "ran") stdout.WriteLine($"circuits: skipped: {circuits.Reason}");
                else
                {
                    stdout.WriteLine($"circuits ({circuits.Method}, top edges at the smallest budget whose faithfulness is within {1 - double.Parse(circuits.Settings["target_faithfulness"], CultureInfo.InvariantCulture):0.##} of 1; {circuits.Seconds:0.0} s):");
                    foreach (var t in circuits.Tasks.Where(t => t.Status == "ran"))
                        stdout.WriteLine($"  {t.Task}: {t.EdgesKept} of {t.GraphEdges} edges, faithfulness {t.Faithfulness:0.000}; heads " + string.Join(", ", t.Nodes.Where(n => n.Head >= 0)
                            .Select(n => $"L{n.Layer}H{n.Head}" + (n.Roles.Count > 0 ? $" ({string.Join("/", n.Roles)})" : ""))));
                    int notRun = circuits.Tasks.Count(t => t.Status != "ran");
                    if (notRun > 0) stdout.WriteLine($"  {notRun} task sets not run: {string.Join(", ", circuits.Tasks.Where(t => t.Status != "ran").Select(t => t.Task))} (reasons in atlas.json)");
                    if (circuits.LabelledNotInAnyCircuit.Count > 0)
                        stdout.WriteLine("  labelled heads in no circuit: " + string.Join(", ", circuits.LabelledNotInAnyCircuit.Select(h => $"L{h.Layer}H{h.Head} ({string.Join("/", h.Labels)})")));
                }
            }
            var skipped = atlas.Detectors.Where(d => d.Status != "ran").ToList();
            if (skipped.Count > 0)
            {
                stdout.WriteLine();
                foreach (var d in skipped) stdout.WriteLine($"{d.Status} {d.Id}: {d.Reason}");
            }
            var ran = atlas.Detectors.Where(d => d.Status == "ran").ToList();
            if (ran.Count > 0)
            {
                // Time and memory per phase (all of them are in atlas.json): the slowest detectors, and where the peak was.
                stdout.WriteLine();
                stdout.WriteLine("slowest detectors: " + string.Join(", ", ran.OrderByDescending(d => d.Seconds).Take(3)
                    .Select(d => $"{d.Id} {d.Seconds:0.0} s" + (d.Causal is { } cc ? $" (causal check {cc.Seconds:0.0} s)" : ""))));
                if (ran.Where(d => d.PeakRssMiB is not null).MaxBy(d => d.PeakRssMiB) is { } peak)
                    stdout.WriteLine($"peak resident memory: {peak.PeakRssMiB:0} MiB, in {peak.Id} (per detector in atlas.json: peak_rss_mib)");
            }
            stdout.WriteLine();
            stdout.WriteLine($"{atlas.Detectors.Count(d => d.Status == "ran")} detectors ran in {clock.Elapsed.TotalSeconds:F1} s; wrote {jsonPath} and {htmlPath}");
            stdout.WriteLine($"scores: {scoresPath} and {tensorsPath}");
            TableOptions.ReportWritten(stdout, tables);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static string Percent(double? v) => v is double d ? d.ToString("0", CultureInfo.InvariantCulture) : "n/a";

    // Rounded first: a tiny negative value would otherwise print as "-+0.000".
    private static string Signed(double? v) => v is double d
        ? Math.Round(d, 3) is var r && r == 0 ? "0.000" : r.ToString("+0.000;-0.000", CultureInfo.InvariantCulture)
        : "n/a";

    /// <summary>
    /// One line per detector on stderr: running, done with its time, or skipped with the reason. On a terminal the
    /// finished detectors' lines go above the live bar, which shows the running one and the phase.
    /// </summary>
    private sealed class ProgressLines(Action<string> writeLine, LiveProgressBar? bar = null) : IProgress<AtlasProgress>
    {
        /// <summary>Detectors finished (done, skipped or failed), for the message when the atlas is stopped.</summary>
        public int Finished { get; private set; }

        public void Report(AtlasProgress p)
        {
            if (p.Phase is "done" or "skipped" or "failed") Finished++;
            string prefix = $"[{p.Index + 1}/{p.Count}] {p.DetectorId}";
            switch (p.Phase)
            {
                case "done":
                    writeLine($"{prefix}: done in {p.Seconds:F1} s");
                    break;
                case "skipped":
                case "failed":
                    writeLine($"{prefix}: {p.Phase}: {p.Detail}");
                    break;
                default:
                    if (bar is null) writeLine($"{prefix}: {p.Phase}…");
                    break;
            }
            bar?.Update((double)Finished / Math.Max(p.Count, 1), $"{prefix}: {p.Phase}");
        }
    }
}
