using System.Globalization;
using System.Text;
using HeadMiner.Tensors;

namespace HeadMiner.Training;

/// <summary>
/// The log of a training run, one <see cref="TrainingCurvePoint"/> per recorded step, and its two outputs: a CSV
/// table (invariant culture, round-trippable numbers) and self-contained SVG charts. Both are written through
/// <see cref="AtomicFile"/>, so a run can rewrite them after every evaluation and a reader never sees half a file.
/// <para>CSV columns: <c>step,tokens,train_loss,learning_rate,grad_norm,tokens_per_second</c>, then
/// <c>eval_loss:&lt;name&gt;</c> for every evaluation set in order of first appearance. Empty cell = not measured;
/// <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c> = measured and not finite. Numbers use .NET's shortest
/// round-trip formatting, so <see cref="ParseCsv"/> gives back exactly the recorded doubles.</para>
/// </summary>
public sealed class TrainingCurve
{
    public const string EvalColumnPrefix = "eval_loss:";
    private static readonly string[] FixedColumns = ["step", "tokens", "train_loss", "learning_rate", "grad_norm", "tokens_per_second"];

    private readonly List<TrainingCurvePoint> _points = [];
    private readonly List<string> _evalNames = [];

    public IReadOnlyList<TrainingCurvePoint> Points => _points;

    /// <summary>Evaluation-set names in order of first appearance (the CSV's and the legend's order).</summary>
    public IReadOnlyList<string> EvalNames => _evalNames;

    /// <summary>Appends a row. Steps must not decrease: the chart draws rows in the order they were recorded.</summary>
    public void Record(TrainingCurvePoint point)
    {
        if (point.Step < 0 || point.Tokens < 0) throw new ArgumentException($"step {point.Step} and tokens {point.Tokens} must be ≥ 0");
        if (_points.Count > 0 && point.Step < _points[^1].Step)
            throw new ArgumentException($"step {point.Step} recorded after step {_points[^1].Step}; steps must not decrease");
        var evalNames = point.EvalLosses?.Keys ?? [];
        foreach (string name in evalNames) CheckEvalName(name); // all checked before anything changes
        foreach (string name in evalNames)
            if (!_evalNames.Contains(name, StringComparer.Ordinal)) _evalNames.Add(name);
        // Snapshot the evaluation losses: a trainer that reuses one dictionary per step must not rewrite history.
        _points.Add(point.EvalLosses is null ? point : point with { EvalLosses = new Dictionary<string, double>(point.EvalLosses, StringComparer.Ordinal) });
    }

    // ---- CSV ------------------------------------------------------------------------------------------------

    public string ToCsv()
    {
        var sb = new StringBuilder();
        sb.AppendJoin(',', FixedColumns.Concat(_evalNames.Select(n => EvalColumnPrefix + n))).Append('\n');
        foreach (var p in _points)
        {
            sb.Append(p.Step.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(p.Tokens.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(Cell(p.TrainLoss)).Append(',')
              .Append(Cell(p.LearningRate)).Append(',')
              .Append(Cell(p.GradientNorm)).Append(',')
              .Append(Cell(p.TokensPerSecond));
            foreach (string name in _evalNames)
                sb.Append(',').Append(p.EvalLosses is { } e && e.TryGetValue(name, out double v) ? Cell(v) : "");
            sb.Append('\n');
        }
        return sb.ToString();
    }

    public void WriteCsv(string path) => AtomicFile.WriteAllText(path, ToCsv());

    /// <summary>Reads a CSV written by <see cref="ToCsv"/> (e.g. to continue a resumed run's curve).</summary>
    public static TrainingCurve ReadCsv(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{path}: could not read training curve: {e.Message}", e);
        }
        return ParseCsv(text, path);
    }

    /// <summary>Parses CSV text; <paramref name="source"/> names it in error messages.</summary>
    public static TrainingCurve ParseCsv(string text, string source = "training curve")
    {
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        while (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        if (lines.Count == 0) throw new HeadMinerException($"{source}: empty file, expected a header line");
        var header = lines[0].Split(',');
        if (header.Length < FixedColumns.Length || !header.AsSpan(0, FixedColumns.Length).SequenceEqual(FixedColumns))
            throw new HeadMinerException($"{source}: header must start with {string.Join(',', FixedColumns)}, found {lines[0]}");
        var evalNames = new List<string>();
        foreach (string column in header.Skip(FixedColumns.Length))
        {
            if (!column.StartsWith(EvalColumnPrefix, StringComparison.Ordinal))
                throw new HeadMinerException($"{source}: column {column} is not an {EvalColumnPrefix}<name> column");
            string name = column[EvalColumnPrefix.Length..];
            try
            {
                CheckEvalName(name);
            }
            catch (ArgumentException e)
            {
                throw new HeadMinerException($"{source}: column {column}: {e.Message}", e);
            }
            evalNames.Add(name);
        }

        var curve = new TrainingCurve();
        foreach (string name in evalNames) curve._evalNames.Add(name); // keep the column order even for all-empty columns
        for (int row = 1; row < lines.Count; row++)
        {
            var cells = lines[row].Split(',');
            string where = $"{source}: line {row + 1}";
            if (cells.Length != header.Length) throw new HeadMinerException($"{where} has {cells.Length} cells, the header has {header.Length}");
            var evals = new Dictionary<string, double>(StringComparer.Ordinal);
            for (int i = 0; i < evalNames.Count; i++)
                if (ParseCell(cells[FixedColumns.Length + i], where, header[FixedColumns.Length + i]) is double v) evals[evalNames[i]] = v;
            try
            {
                curve.Record(new TrainingCurvePoint(
                    Step: ParseCount(cells[0], where, "step"),
                    Tokens: ParseCount(cells[1], where, "tokens"),
                    TrainLoss: ParseCell(cells[2], where, "train_loss"),
                    EvalLosses: evals,
                    LearningRate: ParseCell(cells[3], where, "learning_rate"),
                    GradientNorm: ParseCell(cells[4], where, "grad_norm"),
                    TokensPerSecond: ParseCell(cells[5], where, "tokens_per_second")));
            }
            catch (ArgumentException e)
            {
                throw new HeadMinerException($"{where}: {e.Message}", e);
            }
        }
        return curve;
    }

    private static string Cell(double? value) => value is double v ? v.ToString("R", CultureInfo.InvariantCulture) : "";

    private static double? ParseCell(string cell, string where, string column)
    {
        if (cell.Length == 0) return null;
        if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) return v;
        throw new HeadMinerException($"{where}, column {column}: '{cell}' is not a number");
    }

    private static long ParseCount(string cell, string where, string column)
    {
        if (long.TryParse(cell, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)) return v;
        throw new HeadMinerException($"{where}, column {column}: '{cell}' is not an integer");
    }

    private static void CheckEvalName(string name)
    {
        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            throw new ArgumentException($"evaluation name '{name}' must be non-empty and use only letters, digits, '_', '-' and '.'");
    }

    // ---- SVG ------------------------------------------------------------------------------------------------

    /// <summary>
    /// A chart of one quantity against the step: <see cref="TrainingCurvePlot.Loss"/> draws "train" plus one line
    /// per evaluation set, the others one line. <paramref name="logScale"/> puts the y axis on a log10 scale (values
    /// ≤ 0 then break the line like NaN does).
    /// </summary>
    public SvgLineChart ToChart(TrainingCurvePlot plot = TrainingCurvePlot.Loss, bool logScale = false)
    {
        IReadOnlyList<ChartSeries> series = plot switch
        {
            TrainingCurvePlot.Loss => [Series("train", p => p.TrainLoss), .. _evalNames.Select(n => Series("eval " + n, p => p.EvalLosses is { } e && e.TryGetValue(n, out double v) ? v : null))],
            TrainingCurvePlot.LearningRate => [Series("learning rate", p => p.LearningRate)],
            TrainingCurvePlot.GradientNorm => [Series("gradient norm (before clipping)", p => p.GradientNorm)],
            TrainingCurvePlot.TokensPerSecond => [Series("tokens/s", p => p.TokensPerSecond)],
            _ => throw new ArgumentOutOfRangeException(nameof(plot)),
        };
        var (title, yLabel) = plot switch
        {
            TrainingCurvePlot.Loss => ("loss", "loss (nats/token)"),
            TrainingCurvePlot.LearningRate => ("learning rate", "learning rate"),
            TrainingCurvePlot.GradientNorm => ("gradient norm", "global gradient norm"),
            _ => ("throughput", "tokens per second"),
        };
        return new SvgLineChart { Title = title, XLabel = "step", YLabel = yLabel, LogarithmicY = logScale, Series = series };
    }

    public string ToSvg(TrainingCurvePlot plot = TrainingCurvePlot.Loss, bool logScale = false) => ToChart(plot, logScale).ToSvgString();

    public void WriteSvg(string path, TrainingCurvePlot plot = TrainingCurvePlot.Loss, bool logScale = false) =>
        AtomicFile.WriteAllText(path, ToSvg(plot, logScale));

    /// <summary>The rows where <paramref name="value"/> was measured (null rows are skipped, so the line connects over them).</summary>
    private ChartSeries Series(string name, Func<TrainingCurvePoint, double?> value)
    {
        var x = new List<double>();
        var y = new List<double>();
        foreach (var p in _points)
            if (value(p) is double v)
            {
                x.Add(p.Step);
                y.Add(v);
            }
        return new ChartSeries(name, x, y);
    }
}
