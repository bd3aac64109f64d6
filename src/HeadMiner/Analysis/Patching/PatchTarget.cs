using HeadMiner.Models;

namespace HeadMiner.Analysis.Patching;

/// <summary>How a sweep indexes its patches.</summary>
public enum PatchGranularity
{
    /// <summary>layer × position (resid_pre/mid/post, attn_out, mlp_out; or a per-head site with every head at once).</summary>
    LayerPosition,

    /// <summary>layer × head, every position.</summary>
    LayerHead,

    /// <summary>layer × head × position.</summary>
    LayerHeadPosition,
}

/// <summary>What an activation-patching sweep patches: a hook site and how it is split into patches.</summary>
public sealed record PatchTarget(ActivationSite Site, PatchGranularity Granularity)
{
    /// <summary>Sites with a head axis: hook_z/q/k/v [B,T,H,dh] and the pattern [B,H,T,T].</summary>
    public bool HasHeads => Site is ActivationSite.Z or ActivationSite.Q or ActivationSite.K or ActivationSite.V or ActivationSite.Pattern
        or ActivationSite.RotQ or ActivationSite.RotK or ActivationSite.Result;

    /// <summary>K and V are per k/v head: under grouped-query attention one patch reaches several query heads.</summary>
    public bool PerKvHead => Site is ActivationSite.K or ActivationSite.V or ActivationSite.RotK;

    public static PatchTarget Parse(string text)
    {
        // "resid_pre", "attn_out", "z", "z:pos", "pattern", "v:pos" …
        var parts = text.ToLowerInvariant().Split(':');
        var site = parts[0] switch
        {
            "resid_pre" => ActivationSite.ResidPre,
            "resid_mid" => ActivationSite.ResidMid,
            "resid_post" => ActivationSite.ResidPost,
            "attn_out" => ActivationSite.AttnOut,
            "mlp_out" => ActivationSite.MlpOut,
            "z" => ActivationSite.Z,
            "q" => ActivationSite.Q,
            "k" => ActivationSite.K,
            "v" => ActivationSite.V,
            "pattern" => ActivationSite.Pattern,
            _ => throw new HeadMinerException($"unknown patch target \"{text}\" (resid_pre, resid_mid, resid_post, attn_out, mlp_out, z, q, k, v, pattern; add \":pos\" to a head site for head × position)"),
        };
        var target = new PatchTarget(site, PatchGranularity.LayerPosition);
        if (parts.Length == 1) return target.HasHeads ? target with { Granularity = PatchGranularity.LayerHead } : target;
        if (!target.HasHeads) throw new HeadMinerException($"patch target \"{text}\": {parts[0]} has no heads; it is always patched by layer × position");
        // Only ":pos" may follow a head site: anything else (z:foo, z:pos:x, z:) was once read silently as the bare site.
        if (parts.Length > 2 || parts[1] != "pos")
            throw new HeadMinerException($"patch target \"{text}\": after \"{parts[0]}\" only \":pos\" may follow (e.g. {parts[0]} for layer × head, {parts[0]}:pos for layer × head × position)");
        return target with { Granularity = PatchGranularity.LayerHeadPosition };
    }
}
