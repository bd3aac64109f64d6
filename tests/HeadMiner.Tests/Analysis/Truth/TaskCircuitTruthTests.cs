using HeadMiner.Analysis.Truth;

namespace HeadMiner.Tests.Analysis.Truth;

/// <summary>
/// The path-patching ground truth (<see cref="TaskCircuitTruth"/>) on circuits whose truth is known because it was
/// planted by hand (<see cref="PlantedIoi"/>: a duplicate-token head, an S-inhibition head, three name movers and a
/// negative name mover among random heads): for every seed it must find exactly the planted name movers, negative
/// name mover and S-inhibition head — from path shares and attention alone, knowing nothing of the planting.
/// </summary>
public class TaskCircuitTruthTests
{
    [Theory]
    [InlineData(3UL)]
    [InlineData(8UL)]
    [InlineData(13UL)]
    public void FindsThePlantedIoiCircuit(ulong seed)
    {
        var planted = PlantedIoi.Create(seed);
        var result = TaskCircuitTruth.Compute(planted.Model, planted.Tokenizer!, count: 24, seed: 1, tasks: ["ioi"]);
        var ioi = Assert.Single(result.Tasks);
        Assert.True(ioi.Learned, $"{planted.Describe()}\naccuracy {ioi.Accuracy}, clean {ioi.CleanMetric}, corrupted {ioi.CorruptedMetric}");
        foreach (var (type, plantedType) in new[] { ("name_mover", PlantedTypes.NameMover), ("negative_name_mover", PlantedTypes.NegativeNameMover), ("s_inhibition", PlantedTypes.SInhibition) })
        {
            var truth = result.Types.Single(t => t.Spec.Type == type);
            var expected = planted.Truth.Where(t => t.Type == plantedType).Select(t => (t.Layer, t.Head)).Order();
            Assert.True(expected.SequenceEqual(truth.Truth.Order()),
                $"{planted.Describe()}\n{type}: planted [{string.Join(" ", expected.Select(TaskCircuitTruth.Name))}], found [{string.Join(" ", truth.Truth.Select(TaskCircuitTruth.Name))}] " +
                $"(carriers [{string.Join(" ", truth.Carriers.Select(TaskCircuitTruth.Name))}], role [{string.Join(" ", truth.RoleHeads.Select(TaskCircuitTruth.Name))}])");
            // Every planted head of the type takes part, and none of the random heads both takes part and plays the role.
            Assert.Equal(expected, truth.Participants.Intersect(truth.RoleHeads).Order());
        }
    }
}
