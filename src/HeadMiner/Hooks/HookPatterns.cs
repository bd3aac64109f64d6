using System.Text.RegularExpressions;
using HeadMiner.Models;
using HeadMiner.Models.Formats;

namespace HeadMiner.Hooks;

/// <summary>
/// A comma-separated list of TransformerLens hook names and patterns, as a user types it (`--hooks`):
/// <c>blocks.0.attn.hook_pattern</c> names one point; <c>*</c> matches any run of characters, so
/// <c>blocks.*.attn.hook_pattern</c> is every layer's pattern and <c>*resid*</c> every residual-stream point. A
/// pattern matches every hook point the model has, including the on-demand ones (hook_result, hook_q_input,
/// hook_mlp_in…). A name the model does not have, or a pattern that matches nothing, is an error naming it and the
/// nearest valid names.
/// </summary>
public static class HookPatterns
{
    /// <summary>The hook points <paramref name="list"/> selects on <paramref name="config"/>'s model, in forward order.</summary>
    public static IReadOnlyList<HookName> Select(string list, ModelConfig config)
    {
        var all = HookName.All(config).ToArray();
        var chosen = new HashSet<HookName>();
        var entries = list.Split(',', StringSplitOptions.TrimEntries);
        if (entries.Any(e => e.Length == 0)) throw new HeadMinerException($"hook list \"{list}\" has an empty entry; give names or patterns separated by commas");
        foreach (string entry in entries)
        {
            if (!entry.Contains('*'))
            {
                chosen.Add(HookName.Parse(entry, config));
                continue;
            }
            var regex = new Regex("^" + string.Join(".*", entry.Split('*').Select(Regex.Escape)) + "$", RegexOptions.CultureInvariant);
            var matched = all.Where(h => regex.IsMatch(h.ToString())).ToArray();
            if (matched.Length == 0)
            {
                var nearest = NameSuggestions.Nearest(entry.Replace("*", ""), all.Select(h => h.ToString()), 3);
                throw new HeadMinerException($"hook pattern \"{entry}\" matches no hook point of this {config.Architecture} model; " +
                    $"e.g. {string.Join(", ", nearest.Select(n => $"\"{n}\""))} (docs/HOOKS.md lists them all)");
            }
            chosen.UnionWith(matched);
        }
        return all.Where(chosen.Contains).ToArray();
    }
}
