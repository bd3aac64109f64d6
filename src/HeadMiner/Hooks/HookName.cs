using HeadMiner.Models;

namespace HeadMiner.Hooks;

/// <summary>
/// A hook point by its TransformerLens name ("blocks.3.attn.hook_pattern") and, equivalently, an
/// (<see cref="ActivationSite"/>, layer) pair. Layer is −1 for the points outside blocks.
/// </summary>
public readonly record struct HookName(ActivationSite Site, int Layer)
{
    /// <summary>Name suffix after "blocks.{l}." (or the whole name for layer −1), per site.</summary>
    private static readonly Dictionary<ActivationSite, string> Suffixes = new()
    {
        [ActivationSite.Embed] = "hook_embed",
        [ActivationSite.PosEmbed] = "hook_pos_embed",
        [ActivationSite.ResidPre] = "hook_resid_pre",
        [ActivationSite.Ln1Scale] = "ln1.hook_scale",
        [ActivationSite.Ln1Normalized] = "ln1.hook_normalized",
        [ActivationSite.QInput] = "hook_q_input",
        [ActivationSite.KInput] = "hook_k_input",
        [ActivationSite.VInput] = "hook_v_input",
        [ActivationSite.Q] = "attn.hook_q",
        [ActivationSite.K] = "attn.hook_k",
        [ActivationSite.V] = "attn.hook_v",
        [ActivationSite.QNormScale] = "attn.q_norm.hook_scale",
        [ActivationSite.QNormNormalized] = "attn.q_norm.hook_normalized",
        [ActivationSite.KNormScale] = "attn.k_norm.hook_scale",
        [ActivationSite.KNormNormalized] = "attn.k_norm.hook_normalized",
        [ActivationSite.RotQ] = "attn.hook_rot_q",
        [ActivationSite.RotK] = "attn.hook_rot_k",
        [ActivationSite.AttnScores] = "attn.hook_attn_scores",
        [ActivationSite.Pattern] = "attn.hook_pattern",
        [ActivationSite.Z] = "attn.hook_z",
        [ActivationSite.Result] = "attn.hook_result",
        [ActivationSite.Ln1PostScale] = "ln1_post.hook_scale",
        [ActivationSite.Ln1PostNormalized] = "ln1_post.hook_normalized",
        [ActivationSite.AttnOut] = "hook_attn_out",
        [ActivationSite.ResidMid] = "hook_resid_mid",
        [ActivationSite.MlpIn] = "hook_mlp_in",
        [ActivationSite.Ln2Scale] = "ln2.hook_scale",
        [ActivationSite.Ln2Normalized] = "ln2.hook_normalized",
        [ActivationSite.MlpPre] = "mlp.hook_pre",
        [ActivationSite.MlpPreLinear] = "mlp.hook_pre_linear",
        [ActivationSite.MlpPost] = "mlp.hook_post",
        [ActivationSite.Ln2PostScale] = "ln2_post.hook_scale",
        [ActivationSite.Ln2PostNormalized] = "ln2_post.hook_normalized",
        [ActivationSite.MlpOut] = "hook_mlp_out",
        [ActivationSite.ResidPost] = "hook_resid_post",
        [ActivationSite.LnFinalScale] = "ln_final.hook_scale",
        [ActivationSite.LnFinalNormalized] = "ln_final.hook_normalized",
    };

    private static readonly Dictionary<string, ActivationSite> BySuffix = Suffixes.ToDictionary(kv => kv.Value, kv => kv.Key);

    /// <summary>Sites that live outside the blocks (no layer).</summary>
    public static bool IsGlobal(ActivationSite site) => site is ActivationSite.Embed or ActivationSite.PosEmbed or ActivationSite.LnFinalScale or ActivationSite.LnFinalNormalized;

    public override string ToString() => Layer < 0 ? Suffixes[Site] : $"blocks.{Layer}.{Suffixes[Site]}";

    public static HookName Of(ActivationSite site, int layer = -1) => new(site, IsGlobal(site) ? -1 : layer);

    /// <summary>Every hook point <paramref name="config"/>'s forward pass has, in execution order.</summary>
    public static IEnumerable<HookName> All(ModelConfig config)
    {
        yield return new(ActivationSite.Embed, -1);
        if (config.LearnedPositions) yield return new(ActivationSite.PosEmbed, -1);
        for (int l = 0; l < config.Layers; l++)
            foreach (var site in Enum.GetValues<ActivationSite>())
                if (!IsGlobal(site) && Exists(config, site)) yield return new(site, l);
        yield return new(ActivationSite.LnFinalScale, -1);
        yield return new(ActivationSite.LnFinalNormalized, -1);
    }

    /// <summary>Whether a model of this config has the site at all (rotary, gated MLP, sequential blocks, QK-norm, pre- or post-sublayer norms).</summary>
    public static bool Exists(ModelConfig config, ActivationSite site) => site switch
    {
        ActivationSite.PosEmbed => config.LearnedPositions,
        ActivationSite.RotQ or ActivationSite.RotK => config.RotaryDim > 0,
        ActivationSite.MlpPreLinear => config.GatedMlp,
        ActivationSite.Ln1Scale or ActivationSite.Ln1Normalized or ActivationSite.Ln2Scale or ActivationSite.Ln2Normalized => config.PreNorm,
        ActivationSite.Ln1PostScale or ActivationSite.Ln1PostNormalized or ActivationSite.Ln2PostScale or ActivationSite.Ln2PostNormalized => config.PostNorm,
        ActivationSite.QNormScale or ActivationSite.QNormNormalized or ActivationSite.KNormScale or ActivationSite.KNormNormalized => config.QkNorm != QkNormKind.None,
        ActivationSite.ResidMid => !config.ParallelAttnMlp,
        _ => true,
    };

    /// <summary>Parses a TransformerLens hook name for <paramref name="config"/>; an unknown name is an error that suggests the nearest valid ones.</summary>
    public static HookName Parse(string name, ModelConfig config)
    {
        if (TryParse(name, out var hook) && (hook.Layer < config.Layers) && Exists(config, hook.Site)) return hook;
        var valid = All(config).Select(h => h.ToString()).ToArray();
        var nearest = Models.Formats.NameSuggestions.Nearest(name, valid, 3);
        string why = TryParse(name, out hook)
            ? hook.Layer >= config.Layers ? $"the model has {config.Layers} layers (0–{config.Layers - 1})" : $"a {config.Architecture} model has no such hook"
            : "no such hook name";
        throw new HeadMinerException($"unknown hook \"{name}\": {why}; did you mean {string.Join(", ", nearest.Select(n => $"\"{n}\""))}? (docs/HOOKS.md lists them all)");
    }

    public static bool TryParse(string name, out HookName hook)
    {
        hook = default;
        if (name.StartsWith("blocks.", StringComparison.Ordinal))
        {
            int dot = name.IndexOf('.', 7);
            if (dot < 0 || !int.TryParse(name.AsSpan(7, dot - 7), System.Globalization.NumberStyles.None, null, out int layer)) return false;
            if (!BySuffix.TryGetValue(name[(dot + 1)..], out var site) || IsGlobal(site)) return false;
            hook = new(site, layer);
            return true;
        }
        if (BySuffix.TryGetValue(name, out var global) && IsGlobal(global))
        {
            hook = new(global, -1);
            return true;
        }
        return false;
    }

}
