using HeadMiner.Models;
using HeadMiner.Models.Architectures;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tests.Models;

/// <summary>
/// The forward's weight matrices packed once (<see cref="Transformer.PackedWeightBudgetBytes"/>) change no logit: a
/// model that packs and a copy that never does agree bit for bit, in every weight layout the loaders produce, within
/// the byte budget, and after an in-place edit announced by <see cref="Transformer.WeightsChanged"/>.
/// </summary>
public class PackedWeightsTests
{
    private static (Transformer Packing, Transformer Plain) Pair(ModelConfig config, ulong seed = 7)
    {
        var packing = TinyModels.Create(config, seed);
        var plain = TinyModels.Create(config, seed);
        packing.PackedWeightBudgetBytes = 1L << 30; // whatever HEADMINER_PACKED_WEIGHTS_MB says
        plain.PackedWeightBudgetBytes = 0;
        return (packing, plain);
    }

    private static TokenBatch Batch(ModelConfig config, int sequences, int tokens, ulong seed) =>
        new(TinyModels.Tokens(config, sequences * tokens, seed), sequences, tokens);

    public static TheoryData<string> Families => ["gpt2", "llama", "neox"];

    private static ModelConfig Config(string family) => family switch
    {
        "gpt2" => TinyModels.Gpt2Like(),
        "llama" => TinyModels.LlamaLike(),
        _ => TinyModels.NeoXLike(),
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void PackedAndUnpackedForwardsAgreeBitForBit(string family)
    {
        var config = Config(family);
        var (packing, plain) = Pair(config);
        using (packing)
        using (plain)
        {
            var batch = Batch(config, 2, 11, 3); // 22 rows
            Assert.Equal(plain.Forward(batch).ToArray(), packing.Forward(batch).ToArray());
            Assert.Equal(0, packing.PackedWeightBytes); // one forward: nothing is worth packing yet
            // The second forward packs every weight on its way; the third reads the copies only.
            var second = Batch(config, 3, 7, 4);
            Assert.Equal(plain.Forward(second).ToArray(), packing.Forward(second).ToArray());
            Assert.True(packing.PackedWeightBytes > 0, "nothing was packed");
            Assert.Equal(plain.Forward(batch).ToArray(), packing.Forward(batch).ToArray());
            Assert.Equal(0, plain.PackedWeightBytes);
        }
    }

    [Fact]
    public void ACheckpointsFusedQkvAndTiedUnembeddingArePackedToo()
    {
        // Loaded from a checkpoint, GPT-2's heads sit side by side (one fused Q|K|V product) and W_U views W_E.
        var shape = RandomWeights.Gpt2SmallConfig() with
        {
            VocabSize = 203,
            DModel = 40,
            Layers = 2,
            Heads = 5,
            KvHeads = 5,
            DHead = 8,
            DMlp = 72,
            ContextLength = 40,
            AttentionScale = 1f / MathF.Sqrt(8),
            AttentionWindow = new int[2],
            BosTokenId = 0,
            EosTokenId = 0,
        };
        using var dir = TestPaths.NewTempDirectory();
        var writer = new SafetensorsWriter();
        foreach (var (name, tensor) in Gpt2Export.Tensors(shape, RandomWeights.Create(shape, seed: 9, std: 0.2f))) writer.Add(name, tensor, SafetensorsDType.F32);
        writer.Save(dir.File("model.safetensors"));
        File.WriteAllText(dir.File("config.json"), Gpt2Export.ConfigJson(shape));
        using var packing = ModelLoader.Load(dir.Path);
        using var plain = ModelLoader.Load(dir.Path);
        packing.Model.PackedWeightBudgetBytes = 1L << 30;
        plain.Model.PackedWeightBudgetBytes = 0;
        var batch = Batch(shape, 2, 19, 5);
        packing.Model.Forward(batch); // the first forward packs nothing
        Assert.Equal(plain.Model.Forward(batch).ToArray(), packing.Model.Forward(batch).ToArray());
        // Q|K|V (d × 3d), W_O, W_in, W_out per layer and W_U: every float32 matrix of the model, each exactly once.
        int d = shape.DModel, m = shape.DMlp, v = shape.VocabSize;
        long expected = shape.Layers * (PackedGemmB.BytesFor(d, 3 * d) + PackedGemmB.BytesFor(d, d) + PackedGemmB.BytesFor(d, m) + PackedGemmB.BytesFor(m, d))
            + PackedGemmB.BytesFor(d, v);
        Assert.Equal(expected, packing.Model.PackedWeightBytes);
    }

    [Fact]
    public void ProductsOfManyRowsPackNothing()
    {
        var config = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(config);
        model.PackedWeightBudgetBytes = 1L << 30;
        for (int i = 0; i < 2; i++) model.Forward(Batch(config, 4, 31, 6)); // 124 rows: packing per product costs nothing measurable there
        Assert.Equal(0, model.PackedWeightBytes);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void AnEditAnnouncedByWeightsChangedIsSeen(string family)
    {
        var config = Config(family);
        var (packing, plain) = Pair(config);
        using (packing)
        using (plain)
        {
            var batch = Batch(config, 1, 9, 8);
            packing.Forward(batch);
            var before = packing.Forward(batch).ToArray();
            Assert.True(packing.PackedWeightBytes > 0, "nothing was packed");
            foreach (var model in new[] { packing, plain })
            {
                var w = model.Weights.Blocks[1].W_out.Span;
                for (int i = 0; i < w.Length; i += 3) w[i] *= -2f;
            }
            packing.WeightsChanged();
            Assert.Equal(0, packing.PackedWeightBytes);
            packing.Forward(batch);
            var after = packing.Forward(batch).ToArray(); // from copies of the edited weights
            Assert.True(packing.PackedWeightBytes > 0, "nothing was packed again");
            Assert.NotEqual(before, after);
            Assert.Equal(plain.Forward(batch).ToArray(), after);
        }
    }

    [Fact]
    public void TheBudgetBoundsThePackedBytesAndChangesNoResult()
    {
        var config = TinyModels.LlamaLike();
        var (packing, plain) = Pair(config);
        using (packing)
        using (plain)
        {
            // Room for about one MLP matrix: some weights are packed, the rest multiply as before.
            long budget = PackedGemmB.BytesFor(config.DModel, config.DMlp) + 100;
            packing.PackedWeightBudgetBytes = budget;
            var batch = Batch(config, 2, 9, 9);
            packing.Forward(batch);
            Assert.Equal(plain.Forward(batch).ToArray(), packing.Forward(batch).ToArray());
            Assert.InRange(packing.PackedWeightBytes, 1, budget);
            // Lowering the budget below what is held drops the packed copies.
            packing.PackedWeightBudgetBytes = 10;
            Assert.Equal(0, packing.PackedWeightBytes);
            Assert.Equal(plain.Forward(batch).ToArray(), packing.Forward(batch).ToArray());
            Assert.Throws<ArgumentOutOfRangeException>(() => packing.PackedWeightBudgetBytes = -1);
        }
    }
}
