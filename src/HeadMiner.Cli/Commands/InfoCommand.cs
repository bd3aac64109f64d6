using System.CommandLine;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer info`: what a model is — architecture, sizes, attention layout, tokenizer, tensors it ignored.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var weightsOnly = ModelOptions.WeightsOnly();
        var json = new Option<bool>("--json") { Description = "Print JSON instead of text" };
        var command = new Command("info", "Describe a model: architecture, sizes, attention layout, tokenizer.") { model, weightsOnly, json, allowUnused };
        command.SetAction(parse =>
        {
            using var loaded = ModelOptions.Load(parse.GetValue(model), weightsOnly: parse.GetValue(weightsOnly), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            var c = loaded.Model.Config;
            var w = loaded.Model.Weights;
            var info = new Dictionary<string, object?>
            {
                ["path"] = loaded.Path,
                ["format"] = loaded.Format,
                ["architecture"] = c.Architecture,
                ["layers"] = c.Layers,
                ["d_model"] = c.DModel,
                ["heads"] = c.Heads,
                ["kv_heads"] = c.KvHeads,
                ["d_head"] = c.DHead,
                ["d_mlp"] = c.DMlp,
                ["vocab_size"] = c.VocabSize,
                ["context_length"] = c.ContextLength,
                ["norm"] = c.Norm.ToString(),
                ["qk_norm"] = c.QkNorm.ToString(),
                ["pre_norm"] = c.PreNorm,
                ["post_norm"] = c.PostNorm,
                ["activation"] = c.Activation.ToString(),
                ["positions"] = c.LearnedPositions ? "learned" : $"rotary ({c.RotaryStyle}, {c.RotaryDim}/{c.DHead} dims, theta {c.RopeTheta}{(c.RopeScaling is null ? "" : ", llama3 scaling")}{(c.RopeLinearFactor == 1 ? "" : $", linear scaling ×{c.RopeLinearFactor}")}{(c.LongRope is null ? "" : $", LongRoPE beyond {c.LongRope.OriginalMaxPositions} positions")}{(c.LocalRopeTheta is { } local ? $"; sliding layers theta {local}, unscaled" : "")})",
                ["layer_rope"] = c.LocalRopeTheta is null ? null : string.Join(",", Enumerable.Range(0, c.Layers).Select(l => c.UsesLocalRope(l) ? "local" : "global")),
                ["attention_scale"] = c.AttentionScale,
                ["attn_soft_cap"] = c.AttentionSoftCap,
                ["final_logit_soft_cap"] = c.FinalLogitSoftCap,
                ["embedding_multiplier"] = c.EmbeddingMultiplier,
                ["parallel_attn_mlp"] = c.ParallelAttnMlp,
                ["attention_windows"] = c.AttentionWindow.Distinct().Count() == 1 && c.AttentionWindow[0] == 0 ? "global" : string.Join(",", c.AttentionWindow),
                ["tied_embeddings"] = c.TiedEmbeddings,
                ["runnable"] = w.IsRunnable,
                ["weight_processing"] = loaded.Model.Processing.ToString(),
                ["tokenizer"] = loaded.Tokenizer is null ? null : $"{loaded.Tokenizer.GetType().Name} ({loaded.Tokenizer.VocabSize} tokens)",
                ["bos"] = loaded.Tokenizer is null ? null : BosChoice.Describe(loaded.Tokenizer),
                ["kv_head_of_query_head"] = c.KvHeads == c.Heads ? null : Enumerable.Range(0, c.Heads).Select(c.KvHeadOf).ToArray(),
                ["unused_tensors"] = loaded.UnusedTensors,
            };
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) JsonOutput.Print(output, parse.InvocationConfiguration.Error, info);
            else
                foreach (var (key, value) in info)
                    output.WriteLine($"{key,-22} {Format(value)}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static string Format(object? value) => value switch
    {
        null => "-",
        IEnumerable<string> list => list.Any() ? string.Join(", ", list) : "-",
        int[] ints => string.Join(" ", ints),
        _ => value.ToString() ?? "-",
    };
}
