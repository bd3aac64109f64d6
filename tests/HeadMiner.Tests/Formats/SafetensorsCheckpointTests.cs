using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Formats;

public class SafetensorsCheckpointTests
{
    private const string Index = SafetensorsCheckpoint.IndexFileName;
    private const string Shard1 = "model-00001-of-00002.safetensors";
    private const string Shard2 = "model-00002-of-00002.safetensors";

    private static void WriteShards(TestPaths.TempDirectory dir, string? extraInShard2 = null)
    {
        new SafetensorsWriter()
            .Add("embed.weight", Tensor.Wrap([1f, 2f, 3f, 4f], 2, 2))
            .Add("layers.0.w", Tensor.Wrap([5f, 6f], 2), SafetensorsDType.BF16)
            .Save(dir.File(Shard1));
        var second = new SafetensorsWriter()
            .AddMetadata("format", "pt")
            .Add("layers.1.w", Tensor.Wrap([7f, 8f, 9f], 3));
        if (extraInShard2 is not null) second.Add(extraInShard2, Tensor.Wrap([0f], 1));
        second.Save(dir.File(Shard2));
    }

    private static void WriteIndex(TestPaths.TempDirectory dir, string weightMapEntries) =>
        File.WriteAllText(dir.File(Index), "{\"metadata\":{\"total_size\":32},\"weight_map\":{" + weightMapEntries + "}}");

    private const string GoodMap =
        $"\"embed.weight\":\"{Shard1}\",\"layers.0.w\":\"{Shard1}\",\"layers.1.w\":\"{Shard2}\"";

    [Fact]
    public void ShardedDirectoryResolvesTensorsAcrossShards()
    {
        using var dir = TestPaths.NewTempDirectory();
        WriteShards(dir);
        WriteIndex(dir, GoodMap);
        foreach (string path in new[] { dir.Path, dir.File(Index) })
        {
            using var checkpoint = SafetensorsCheckpoint.Open(path);
            Assert.Equal(2, checkpoint.Files.Count);
            Assert.Equal(["embed.weight", "layers.0.w", "layers.1.w"], checkpoint.TensorNames);
            Assert.Equal([1f, 2f, 3f, 4f], checkpoint.GetFloat32("embed.weight").ToArray());
            Assert.Equal([5f, 6f], checkpoint.GetFloat32("layers.0.w").ToArray());
            Assert.Equal(SafetensorsDType.BF16, checkpoint.GetHalf("layers.0.w").DType);
            Assert.Equal([7f, 8f, 9f], checkpoint.GetFloat32("layers.1.w").ToArray());
            Assert.Equal(dir.File(Shard2), checkpoint.FileOf("layers.1.w").Path);
            Assert.Equal("pt", checkpoint.Metadata["format"]);
            var e = Assert.Throws<HeadMinerException>(() => checkpoint.GetFloat32("layers.2.w"));
            Assert.Contains("nearest: 'layers.0.w', 'layers.1.w'", e.Message);
        }
    }

    [Fact]
    public void SingleFileDirectoryAndExplicitFileBothOpen()
    {
        using var dir = TestPaths.NewTempDirectory();
        new SafetensorsWriter().Add("x", Tensor.Wrap([1f, 2f], 2)).Save(dir.File(SafetensorsCheckpoint.SingleFileName));
        new SafetensorsWriter().Add("y", Tensor.Wrap([3f], 1)).Save(dir.File("other.safetensors"));
        using (var fromDir = SafetensorsCheckpoint.Open(dir.Path))
            Assert.Equal([1f, 2f], fromDir.GetFloat32("x").ToArray());
        using (var explicitFile = SafetensorsCheckpoint.Open(dir.File("other.safetensors")))
            Assert.Equal(["y"], explicitFile.TensorNames);
    }

    [Fact]
    public void DirectoryWithoutModelFilesNamesWhatItFound()
    {
        using var dir = TestPaths.NewTempDirectory();
        new SafetensorsWriter().Add("y", Tensor.Wrap([3f], 1)).Save(dir.File("adapter.safetensors"));
        var e = Assert.Throws<HeadMinerException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains(SafetensorsCheckpoint.SingleFileName, e.Message);
        Assert.Contains("adapter.safetensors", e.Message);
    }

    [Fact]
    public void MissingShardIsNamed()
    {
        using var dir = TestPaths.NewTempDirectory();
        WriteShards(dir);
        File.Delete(dir.File(Shard2));
        WriteIndex(dir, GoodMap);
        var e = Assert.Throws<HeadMinerException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains(Shard2, e.Message);
        Assert.Contains("layers.1.w", e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void TensorMappedToAShardThatLacksItIsAnError()
    {
        using var dir = TestPaths.NewTempDirectory();
        WriteShards(dir);
        WriteIndex(dir, $"\"embed.weight\":\"{Shard2}\",\"layers.0.w\":\"{Shard1}\",\"layers.1.w\":\"{Shard2}\"");
        var e = Assert.Throws<HeadMinerException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("'embed.weight'", e.Message);
        Assert.Contains("does not contain it", e.Message);
    }

    [Fact]
    public void TensorInTwoShardsIsAnError()
    {
        using var dir = TestPaths.NewTempDirectory();
        WriteShards(dir, extraInShard2: "embed.weight");
        WriteIndex(dir, GoodMap);
        var e = Assert.Throws<HeadMinerException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("'embed.weight' appears in two shards", e.Message);
    }

    [Fact]
    public void TensorListedTwiceInWeightMapIsAnError()
    {
        using var dir = TestPaths.NewTempDirectory();
        WriteShards(dir);
        WriteIndex(dir, GoodMap + $",\"embed.weight\":\"{Shard1}\"");
        var e = Assert.Throws<HeadMinerException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("'embed.weight' appears twice in weight_map", e.Message);
    }

    [Theory]
    [InlineData("../escape.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("")]
    public void ShardNamesMustBePlainFileNames(string shard)
    {
        using var dir = TestPaths.NewTempDirectory();
        WriteShards(dir);
        WriteIndex(dir, $"\"embed.weight\":\"{shard}\"");
        var e = Assert.Throws<HeadMinerException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("not a plain file name", e.Message);
    }

    [Fact]
    public void MalformedIndexIsAnError()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File(Index), "{\"weight_map\": [");
        Assert.Contains("not valid JSON", Assert.Throws<HeadMinerException>(() => SafetensorsCheckpoint.Open(dir.Path)).Message);
        File.WriteAllText(dir.File(Index), "{\"metadata\": {}}");
        Assert.Contains("no \"weight_map\"", Assert.Throws<HeadMinerException>(() => SafetensorsCheckpoint.Open(dir.Path)).Message);
    }
}
