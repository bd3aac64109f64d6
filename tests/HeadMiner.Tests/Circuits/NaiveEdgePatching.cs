using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Circuits;

/// <summary>
/// The tests' reference for edge patching, written without anything <c>EdgePatcher</c> uses beyond the forward pass's
/// hooks: edges given by name, both runs from layer 0 (no resumption, no cached clean run, one copy), every sender's
/// output recomputed in scalar loops (z_h · W_O[h] element by element), and each receiver's input corrected by
/// Σ (this run's output − the corrupted run's output) over its patched edges.
/// </summary>
internal static class NaiveEdgePatching
{
    public static double Metric(Transformer model, Metric metric, IEnumerable<string> patchedEdges)
    {
        var edges = patchedEdges.Select(e => e.Split("->")).Select(p => (Sender: p[0], Receiver: p[1])).ToList();
        var corrupted = new Recorder(model, []);
        model.Run(metric.Pairs.CorruptedBatch(), new ForwardOptions { Hooks = corrupted, LastOnly = metric.LastPositionOnly });
        var patched = new Recorder(model, edges) { Corrupted = corrupted.Outputs };
        var logits = model.Run(metric.Pairs.CleanBatch(), new ForwardOptions { Hooks = patched, LastOnly = metric.LastPositionOnly }).Logits!;
        return metric.PerPair(logits).Average();
    }

    private sealed class Recorder(Transformer model, List<(string Sender, string Receiver)> edges) : IActivationHooks
    {
        public Dictionary<string, double[]> Outputs { get; } = [];

        public Dictionary<string, double[]>? Corrupted { get; init; }

        public bool Wants(ActivationSite site, int layer) => site is ActivationSite.ResidPre or ActivationSite.Z or ActivationSite.MlpOut
            or ActivationSite.QInput or ActivationSite.KInput or ActivationSite.VInput or ActivationSite.MlpIn
            || (site == ActivationSite.ResidPost && layer == model.Config.Layers - 1);

        public void Visit(ActivationSite site, int layer, Tensor activation)
        {
            var c = model.Config;
            int d = c.DModel;
            var live = activation.Span;
            int rows = live.Length / (site is ActivationSite.QInput ? c.Heads * d : site is ActivationSite.KInput or ActivationSite.VInput ? c.KvHeads * d : site == ActivationSite.Z ? c.Heads * c.DHead : d);
            switch (site)
            {
                case ActivationSite.ResidPre when layer == 0:
                    Outputs["embed"] = live.ToArray().Select(v => (double)v).ToArray();
                    break;
                case ActivationSite.Z:
                    var wo = model.Weights.Blocks[layer].W_O;
                    for (int h = 0; h < c.Heads; h++)
                    {
                        var o = new double[rows * d];
                        for (int r = 0; r < rows; r++)
                            for (int j = 0; j < d; j++)
                            {
                                double sum = 0;
                                for (int k = 0; k < c.DHead; k++) sum += live[r * c.Heads * c.DHead + h * c.DHead + k] * (double)wo[h, k, j];
                                o[r * d + j] = sum;
                            }
                        Outputs[$"a{layer}.h{h}"] = o;
                    }
                    break;
                case ActivationSite.MlpOut:
                    Outputs[$"mlp{layer}"] = live.ToArray().Select(v => (double)v).ToArray();
                    break;
                case ActivationSite.QInput:
                    for (int h = 0; h < c.Heads; h++)
                    {
                        Correct(live, rows, c.Heads, h, $"a{layer}.h{h}.q");
                        Correct(live, rows, c.Heads, h, $"a{layer}.h{h}");
                    }
                    break;
                case ActivationSite.KInput:
                case ActivationSite.VInput:
                    string part = site == ActivationSite.KInput ? "k" : "v";
                    for (int g = 0; g < c.KvHeads; g++)
                    {
                        Correct(live, rows, c.KvHeads, g, c.KvHeads == c.Heads ? $"a{layer}.h{g}.{part}" : $"a{layer}.kv{g}.{part}");
                        if (c.KvHeads == c.Heads) Correct(live, rows, c.KvHeads, g, $"a{layer}.h{g}");
                    }
                    break;
                case ActivationSite.MlpIn:
                    Correct(live, rows, 1, 0, $"mlp{layer}");
                    break;
                case ActivationSite.ResidPost:
                    Correct(live, rows, 1, 0, "logits");
                    break;
            }
        }

        /// <summary>Subtracts Σ (output − corrupted output) of the senders patched into <paramref name="receiver"/> from slot <paramref name="slot"/> of each row.</summary>
        private void Correct(Span<float> live, int rows, int slots, int slot, string receiver)
        {
            int d = model.Config.DModel;
            foreach (var (sender, r) in edges)
            {
                if (r != receiver) continue;
                var now = Outputs[sender];
                var before = Corrupted![sender];
                for (int row = 0; row < rows; row++)
                    for (int j = 0; j < d; j++)
                        live[(row * slots + slot) * d + j] -= (float)(now[row * d + j] - before[row * d + j]);
            }
        }
    }
}
