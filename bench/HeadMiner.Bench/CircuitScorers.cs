using HeadMiner.Analysis.Circuits;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Bench;

/// <summary>
/// The gradient-scored methods `bench circuits` compares (EAP and the EAP-IG variants), named as its tables name
/// them, for the planted circuits and the embedded model alike.
/// </summary>
internal static class CircuitScorers
{
    public sealed record Scorer(string Name, Func<Transformer, TokenizedPairs, MetricKind, CircuitGraph, double[]> Score);

    /// <summary>The scorers <paramref name="methods"/> asks for, each EAP-IG variant once per step count.</summary>
    public static IEnumerable<Scorer> Selected(IReadOnlyCollection<string> methods, int[] stepCounts, int maxSteps)
    {
        if (methods.Contains("eap")) yield return new("eap", EapScores.Compute);
        foreach (int k in methods.Contains("eap-ig") ? stepCounts : [])
            yield return new($"eap-ig{k}", (m, p, metric, g) => EapIgScores.Compute(m, p, metric, g, k));
        foreach (int k in methods.Contains("eap-ig-act") ? stepCounts : [])
            yield return new($"eap-ig-act{k}", (m, p, metric, g) => EapIgScores.Activations(m, p, metric, g, k));
        foreach (int k in methods.Contains("eap-ig-recv") ? stepCounts : [])
            yield return new($"eap-ig-recv{k}", (m, p, metric, g) => EapIgScores.ReceiverInputs(m, p, metric, g, k, maxSteps: k));
        foreach (int k in methods.Contains("eap-ig-recv-refined") ? stepCounts : [])
            yield return new($"eap-ig-recv{k}-{maxSteps}", (m, p, metric, g) => EapIgScores.ReceiverInputs(m, p, metric, g, k, maxSteps: maxSteps));
    }
}
