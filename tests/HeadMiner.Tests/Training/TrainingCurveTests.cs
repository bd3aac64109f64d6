using System.Globalization;
using System.Xml.Linq;
using HeadMiner.Training;

namespace HeadMiner.Tests.Training;

public class TrainingCurveTests
{
    private static readonly XNamespace Svg = SvgLineChart.SvgNamespace;

    /// <summary>20 steps: eval every 5 (two sets), a NaN train loss at step 12, an infinite gradient norm at step 7.</summary>
    private static TrainingCurve SampleCurve()
    {
        var curve = new TrainingCurve();
        for (int step = 1; step <= 20; step++)
        {
            Dictionary<string, double>? evals = step % 5 == 0
                ? new() { ["val"] = 3.0 / step + 0.1, ["ood.test-1"] = 4.0 / step + 0.3 }
                : null;
            curve.Record(new TrainingCurvePoint(
                Step: step,
                Tokens: step * 4096L,
                TrainLoss: step == 12 ? double.NaN : 5.0 / (step + 1) + 0.1 + 0.2,
                EvalLosses: evals,
                LearningRate: step == 3 ? null : 1e-3 * step / 20,
                GradientNorm: step == 7 ? double.PositiveInfinity : 0.5 + step * 0.01,
                TokensPerSecond: 12345.678 + step));
        }
        return curve;
    }

    [Fact]
    public void CsvRoundTripsEveryValue()
    {
        var curve = SampleCurve();
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("curve.csv");
        curve.WriteCsv(path);
        var lines = File.ReadAllLines(path);
        Assert.Equal("step,tokens,train_loss,learning_rate,grad_norm,tokens_per_second,eval_loss:val,eval_loss:ood.test-1", lines[0]);
        Assert.Equal(21, lines.Length);
        Assert.Equal("3,12288,1.55,,0.53,12348.678,,", lines[3]);          // unmeasured = empty cell
        Assert.Equal("7,28672,0.925,0.00035,Infinity,12352.678,,", lines[7]);
        Assert.StartsWith("12,49152,NaN,", lines[12]);
        Assert.Equal(["curve.csv"], Directory.GetFiles(dir.Path).Select(Path.GetFileName)); // AtomicFile left no temp file

        var back = TrainingCurve.ReadCsv(path);
        Assert.Equal(curve.EvalNames, back.EvalNames);
        Assert.Equal(curve.Points.Count, back.Points.Count);
        for (int i = 0; i < curve.Points.Count; i++)
        {
            var (a, b) = (curve.Points[i], back.Points[i]);
            Assert.Equal((a.Step, a.Tokens, a.TrainLoss, a.LearningRate, a.GradientNorm, a.TokensPerSecond),
                (b.Step, b.Tokens, b.TrainLoss, b.LearningRate, b.GradientNorm, b.TokensPerSecond));
            Assert.Equal(a.EvalLosses ?? new Dictionary<string, double>(), b.EvalLosses!);
        }
    }

    [Fact]
    public void CsvNumbersRoundTripToTheBit()
    {
        var curve = new TrainingCurve();
        double awkward = 0.1 + 0.2, tiny = double.Epsilon, big = 1.7976931348623157e308;
        curve.Record(new TrainingCurvePoint(0, 0, awkward, new Dictionary<string, double> { ["e"] = tiny }, big, double.NegativeInfinity, 0));
        var p = TrainingCurve.ParseCsv(curve.ToCsv()).Points[0];
        Assert.Equal(BitConverter.DoubleToInt64Bits(awkward), BitConverter.DoubleToInt64Bits(p.TrainLoss!.Value));
        Assert.Equal(tiny, p.EvalLosses!["e"]);
        Assert.Equal(big, p.LearningRate);
        Assert.Equal(double.NegativeInfinity, p.GradientNorm);
    }

    [Fact]
    public void MalformedCsvIsAHeadMinerErrorNamingTheLine()
    {
        const string header = "step,tokens,train_loss,learning_rate,grad_norm,tokens_per_second,eval_loss:val\n";
        Assert.Contains("line 3", Assert.Throws<HeadMinerException>(() => TrainingCurve.ParseCsv(header + "1,2,3,,,,\n2,4,x,,,,\n", "c.csv")).Message);
        Assert.Contains("cells", Assert.Throws<HeadMinerException>(() => TrainingCurve.ParseCsv(header + "1,2,3\n")).Message);
        Assert.Contains("header", Assert.Throws<HeadMinerException>(() => TrainingCurve.ParseCsv("step,loss\n")).Message);
        Assert.Contains("eval_loss:a b", Assert.Throws<HeadMinerException>(() => TrainingCurve.ParseCsv(header.Replace(":val", ":a b", StringComparison.Ordinal))).Message);
        Assert.Contains("must not decrease", Assert.Throws<HeadMinerException>(() => TrainingCurve.ParseCsv(header + "5,0,1,,,,\n4,0,1,,,,\n")).Message);
    }

    [Fact]
    public void RecordRejectsBadNamesAndDecreasingSteps()
    {
        var curve = new TrainingCurve();
        Assert.Throws<ArgumentException>(() => curve.Record(new TrainingCurvePoint(1, 0, 1.0, new Dictionary<string, double> { ["a,b"] = 1 })));
        Assert.Throws<ArgumentException>(() => curve.Record(new TrainingCurvePoint(1, 0, 1.0, new Dictionary<string, double> { [""] = 1 })));
        Assert.Throws<ArgumentException>(() => curve.Record(new TrainingCurvePoint(1, 0, 1.0, new Dictionary<string, double> { ["ok"] = 1, ["not ok"] = 2 })));
        Assert.Empty(curve.EvalNames); // a rejected row leaves no trace
        Assert.Empty(curve.Points);
        curve.Record(new TrainingCurvePoint(5, 0, 1.0));
        curve.Record(new TrainingCurvePoint(5, 0, 0.9)); // equal steps are allowed (e.g. an eval-only row)
        Assert.Throws<ArgumentException>(() => curve.Record(new TrainingCurvePoint(4, 0, 1.0)));
    }

    [Fact]
    public void LossSvgIsSelfContainedWellFormedXmlWithOnePathPerSeries()
    {
        var curve = SampleCurve();
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("loss.svg");
        curve.WriteSvg(path);
        string text = File.ReadAllText(path);

        var doc = XDocument.Parse(text); // throws if not well-formed
        Assert.Equal(Svg + "svg", doc.Root!.Name);
        var paths = doc.Descendants(Svg + "path").ToList();
        Assert.Equal(3, paths.Count); // train, eval val, eval ood.test-1
        Assert.Equal(["train", "eval val", "eval ood.test-1"], paths.Select(p => p.Element(Svg + "title")!.Value));
        Assert.Empty(doc.Descendants(Svg + "polyline"));

        var texts = doc.Descendants(Svg + "text").Select(t => t.Value).ToList();
        Assert.Contains("step", texts);                // x-axis label
        Assert.Contains("loss (nats/token)", texts);   // y-axis label
        Assert.Contains("eval ood.test-1", texts);     // legend entry
        Assert.True(doc.Descendants(Svg + "text").Count(t => (string?)t.Parent!.Attribute("class") == "tick-labels") >= 6, "tick labels");
        Assert.Contains("20", texts);                  // the last step is a tick

        Assert.DoesNotContain("http", text.Replace(SvgLineChart.SvgNamespace, "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("href", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<script", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<image", text, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(["loss.svg"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void NaNBreaksTheLineWhileUnmeasuredStepsDoNot()
    {
        var doc = XDocument.Parse(SampleCurve().ToSvg());
        var d = doc.Descendants(Svg + "path").Select(p => p.Attribute("d")!.Value).ToList();
        // Train loss: NaN at step 12 splits steps 1–11 and 13–20 into two subpaths.
        Assert.Equal(2, d[0].Count(c => c == 'M'));
        Assert.Equal(11 + 8 - 2, d[0].Count(c => c == 'L'));
        // Eval losses exist every 5th step only; the line connects them: one subpath through 4 points.
        Assert.Equal(1, d[1].Count(c => c == 'M'));
        Assert.Equal(3, d[1].Count(c => c == 'L'));
    }

    [Fact]
    public void EveryPointLiesInsideThePlotArea()
    {
        var chart = SampleCurve().ToChart();
        var doc = chart.ToDocument();
        foreach (var path in doc.Descendants(Svg + "path"))
        {
            var numbers = path.Attribute("d")!.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(tok => tok.TrimStart('M', 'L'))
                .Where(tok => tok.Length > 0 && tok != "h0")
                .Select(tok => double.Parse(tok, CultureInfo.InvariantCulture)).ToArray();
            for (int i = 0; i + 1 < numbers.Length; i += 2)
            {
                Assert.InRange(numbers[i], 80, chart.Width - 190);
                Assert.InRange(numbers[i + 1], 40, chart.Height - 55);
            }
        }
    }

    [Fact]
    public void LogScaleLabelsDecadesAndDropsNonPositiveValues()
    {
        var curve = new TrainingCurve();
        double[] losses = [10, 3, 1, 0.3, 0, 0.1, 0.05];
        for (int i = 0; i < losses.Length; i++) curve.Record(new TrainingCurvePoint(i * 100, 0, losses[i]));
        var doc = XDocument.Parse(curve.ToSvg(logScale: true));
        var texts = doc.Descendants(Svg + "text").Select(t => t.Value).ToList();
        Assert.Contains("loss (nats/token), log scale", texts);
        Assert.Contains("10", texts);
        Assert.Contains("1", texts);
        Assert.Contains("0.1", texts);
        string d = doc.Descendants(Svg + "path").Single().Attribute("d")!.Value;
        Assert.Equal(2, d.Count(c => c == 'M')); // the 0 loss cannot be drawn on a log axis: the line breaks there
    }

    [Theory]
    [InlineData(TrainingCurvePlot.LearningRate, "learning rate")]
    [InlineData(TrainingCurvePlot.GradientNorm, "global gradient norm")]
    [InlineData(TrainingCurvePlot.TokensPerSecond, "tokens per second")]
    public void OtherQuantitiesPlotOneLine(TrainingCurvePlot plot, string yLabel)
    {
        var doc = XDocument.Parse(SampleCurve().ToSvg(plot));
        Assert.Single(doc.Descendants(Svg + "path"));
        Assert.Contains(yLabel, doc.Descendants(Svg + "text").Select(t => t.Value));
    }

    [Fact]
    public void RecordedEvalLossesAreASnapshot()
    {
        var curve = new TrainingCurve();
        var evals = new Dictionary<string, double> { ["val"] = 2.0 };
        curve.Record(new TrainingCurvePoint(1, 0, 3.0, evals));
        evals["val"] = 1.0;
        evals["late"] = 0.5;
        Assert.Equal(2.0, curve.Points[0].EvalLosses!["val"]);
        Assert.False(curve.Points[0].EvalLosses!.ContainsKey("late"));
    }

    [Fact]
    public void ValuesFarFromZeroStillGetAFewTicks()
    {
        // y spans two ulps of 1e22: the tick step is below an ulp, so value / step exceeds 2⁵³ (a k++ loop never ends).
        double y0 = 1e22, y1 = Math.BitIncrement(y0), y2 = Math.BitIncrement(y1);
        var chart = new SvgLineChart { Series = [new ChartSeries("s", [0, 1, 2], [y0, y1, y2])] };
        var doc = XDocument.Parse(chart.ToSvgString());
        int labels = doc.Descendants(Svg + "g").Single(g => (string?)g.Attribute("class") == "tick-labels").Elements().Count();
        Assert.InRange(labels, 3 + 1, 3 + 50); // x ticks 0, 0.5, …, 2 plus at least one y tick
    }

    [Fact]
    public void EmptyCurveStillGivesAWellFormedChart()
    {
        var doc = XDocument.Parse(new TrainingCurve().ToSvg());
        Assert.Equal("", doc.Descendants(Svg + "path").Single().Attribute("d")!.Value);
        var one = new TrainingCurve();
        one.Record(new TrainingCurvePoint(3, 0, 2.5));
        string d = XDocument.Parse(one.ToSvg()).Descendants(Svg + "path").Single().Attribute("d")!.Value;
        Assert.EndsWith("h0", d); // a lone point is drawn as a dot
    }

    [Fact]
    public void SeriesNamesAreEscapedNotInjected()
    {
        var chart = new SvgLineChart { Title = "a <b> & \"c\"", Series = [new ChartSeries("x</text><script>", [0, 1], [1, 2])] };
        var doc = XDocument.Parse(chart.ToSvgString());
        Assert.Empty(doc.Descendants(Svg + "script"));
        Assert.Contains("x</text><script>", doc.Descendants(Svg + "text").Select(t => t.Value));
    }
}
