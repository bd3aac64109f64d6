using System.CommandLine;
using HeadMiner.Analysis.Catalog;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer catalog`: the head types HeadMiner knows, their stage, detector and papers.</summary>
public static class CatalogCommand
{
    public static Command Create()
    {
        var stage = new Option<string?>("--stage") { Description = "Only one stage: KR, ICI, LR or EP" };
        var detectable = new Option<bool>("--detectable") { Description = "Only the types a detector measures" };
        var json = new Option<bool>("--json") { Description = "Print JSON (every field, papers included) instead of a table" };
        var command = new Command("catalog", "List the head types of the survey's taxonomy: stage, detector, papers, function.") { stage, detectable, json };
        command.SetAction(parse =>
        {
            var catalog = HeadCatalog.Load();
            IEnumerable<HeadType> types = catalog.Types;
            if (parse.GetValue(stage) is string text)
            {
                var wanted = HeadStages.TryParse(text)
                    ?? throw new UsageException($"--stage \"{text}\" is not a stage; use one of {string.Join(", ", HeadStages.All)}");
                types = types.Where(t => t.Stage == wanted);
            }
            if (parse.GetValue(detectable)) types = types.Where(t => t.IsDetectable);
            var list = types.ToList();
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                JsonOutput.Print(output, parse.InvocationConfiguration.Error, new { version = catalog.Version, count = list.Count, types = list });
                return ExitCodes.Success;
            }
            int idWidth = Math.Max(2, list.Select(t => t.Id.Length).DefaultIfEmpty(0).Max());
            int detWidth = Math.Max(8, list.Select(t => t.Detector?.Length ?? 1).DefaultIfEmpty(0).Max());
            output.WriteLine($"{"id".PadRight(idWidth)}  {"stage",-5}  {"detector".PadRight(detWidth)}  {"papers",6}  function");
            foreach (var t in list)
                output.WriteLine($"{t.Id.PadRight(idWidth)}  {t.StageText,-5}  {(t.Detector ?? "—").PadRight(detWidth)}  {t.Papers.Count,6}  {t.Function}");
            output.WriteLine($"{list.Count} head types, {list.Count(t => t.IsDetectable)} with a detector");
            return ExitCodes.Success;
        });
        return command;
    }
}
