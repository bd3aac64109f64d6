using HeadMiner.Models;

namespace HeadMiner.Tests.Models;

public class HubCacheTests
{
    private const string CommitA = "3f1c2b9d0e4a5b6c7d8e9f00112233445566778a";
    private const string CommitB = "9a8e7d6c5b4a39281706f5e4d3c2b1a098765432";

    private static readonly string Llama = TestPaths.Fixture("parity", "llama");
    private static readonly string Qwen2 = TestPaths.Fixture("parity", "qwen2");

    private static HubCache CacheAt(string root) => HubCache.FromEnvironment(new Dictionary<string, string> { ["HF_HUB_CACHE"] = root }.GetValueOrDefault);

    [Fact]
    public void AnIdWithoutRevisionLoadsRefsMainThroughTheBlobLinks()
    {
        using var temp = TestPaths.NewTempDirectory();
        var fake = new FakeHubCache(temp.Path);
        string main = fake.AddSnapshot("tiny/llama", CommitA, Llama);
        fake.AddSnapshot("tiny/llama", CommitB, Qwen2);
        fake.SetRef("tiny/llama", "main", CommitA);

        string resolved = CacheAt(temp.Path).Resolve("tiny/llama");
        Assert.Equal(main, resolved);
        Assert.NotNull(new FileInfo(Path.Combine(resolved, "model.safetensors")).LinkTarget);
        using var loaded = ModelLoader.Load(resolved);
        using var direct = ModelLoader.Load(Llama);
        Assert.Equal("llama", loaded.Model.Config.Architecture);
        Assert.Equal(direct.Model.Weights.W_E.ToArray(), loaded.Model.Weights.W_E.ToArray());
    }

    [Fact]
    public void ARevisionIsARefOrAnUnambiguousCommitPrefix()
    {
        using var temp = TestPaths.NewTempDirectory();
        var fake = new FakeHubCache(temp.Path);
        string a = fake.AddSnapshot("tiny/model", CommitA, Llama);
        string b = fake.AddSnapshot("tiny/model", CommitB, Qwen2);
        fake.SetRef("tiny/model", "main", CommitA);
        fake.SetRef("tiny/model", "v1", CommitB);
        var cache = CacheAt(temp.Path);

        Assert.Equal(a, cache.Resolve("tiny/model@main"));
        Assert.Equal(b, cache.Resolve("tiny/model@v1"));
        Assert.Equal(b, cache.Resolve("tiny/model@9a8e7d"));
        Assert.Equal(a, cache.Resolve("tiny/model@3F1C2B")); // hashes are case-insensitive
        Assert.Equal(a, cache.Resolve("tiny/model@" + CommitA));
        var e = Assert.Throws<HeadMinerException>(() => cache.Resolve("tiny/model@v2"));
        Assert.Contains("no revision \"v2\"", e.Message);
        Assert.Contains("main → 3f1c2b9d0e4a, v1 → 9a8e7d6c5b4a", e.Message);
        Assert.Contains("--revision v2", e.Message);
    }

    [Fact]
    public void AnAmbiguousCommitPrefixListsTheCandidates()
    {
        using var temp = TestPaths.NewTempDirectory();
        var fake = new FakeHubCache(temp.Path);
        fake.AddSnapshot("tiny/model", "ab12" + CommitA[4..], Llama);
        fake.AddSnapshot("tiny/model", "ab12" + CommitB[4..], Llama);
        fake.SetRef("tiny/model", "main", "ab12" + CommitA[4..]);

        var e = Assert.Throws<HeadMinerException>(() => CacheAt(temp.Path).Resolve("tiny/model@ab1"));
        Assert.Contains("ambiguous", e.Message);
        Assert.Contains("ab12" + CommitA[4..], e.Message);
        Assert.Contains("ab12" + CommitB[4..], e.Message);
        Assert.EndsWith("snapshots", Path.GetDirectoryName(CacheAt(temp.Path).Resolve("tiny/model@ab12" + CommitB[4..10])));
    }

    [Fact]
    public void ADanglingRefNamesTheRefAndTheMissingCommit()
    {
        using var temp = TestPaths.NewTempDirectory();
        var fake = new FakeHubCache(temp.Path);
        fake.AddSnapshot("tiny/model", CommitA, Llama);
        fake.SetRef("tiny/model", "main", CommitB);

        var e = Assert.Throws<HeadMinerException>(() => CacheAt(temp.Path).Resolve("tiny/model"));
        Assert.Contains(Path.Combine(fake.RepoFolder("tiny/model"), "refs", "main"), e.Message);
        Assert.Contains($"points to commit {CommitB}, which has no snapshot folder", e.Message);
        Assert.Contains("snapshots present: 3f1c2b9d0e4a", e.Message);
    }

    [Fact]
    public void WithoutRefsMainTheOnlySnapshotIsUsedAndSeveralAreAnError()
    {
        using var temp = TestPaths.NewTempDirectory();
        var fake = new FakeHubCache(temp.Path);
        string only = fake.AddSnapshot("tiny/one", CommitA, Llama);
        fake.AddSnapshot("tiny/two", CommitA, Llama);
        fake.AddSnapshot("tiny/two", CommitB, Llama);
        var cache = CacheAt(temp.Path);

        Assert.Equal(only, cache.Resolve("tiny/one"));
        var e = Assert.Throws<HeadMinerException>(() => cache.Resolve("tiny/two"));
        Assert.Contains("no refs/main and 2 snapshots (3f1c2b9d0e4a, 9a8e7d6c5b4a)", e.Message);
        Assert.Contains("tiny/two@<commit>", e.Message);
    }

    [Fact]
    public void AnUncachedModelSaysWhereItLookedWhatIsNearAndHowToGetIt()
    {
        using var temp = TestPaths.NewTempDirectory();
        var fake = new FakeHubCache(temp.Path);
        fake.AddSnapshot("meta-llama/Llama-3.2-1B", CommitA, Llama);
        fake.AddSnapshot("someone/gpt2", CommitA, Llama);
        fake.AddSnapshot("other/unrelated", CommitA, Llama);

        var e = Assert.Throws<HeadMinerException>(() => CacheAt(temp.Path).Resolve("meta-llama/gpt2"));
        Assert.Contains($"searched {temp.Path} (from HF_HUB_CACHE) for models--meta-llama--gpt2", e.Message);
        Assert.Contains("same org or name: meta-llama/Llama-3.2-1B, someone/gpt2;", e.Message);
        Assert.DoesNotContain("other/unrelated", e.Message);
        Assert.Contains("huggingface-cli download meta-llama/gpt2", e.Message);

        var missingRoot = Assert.Throws<HeadMinerException>(() => CacheAt(Path.Combine(temp.Path, "absent")).Resolve("a/b"));
        Assert.Contains("that folder does not exist", missingRoot.Message);
    }

    [Theory]
    [InlineData("HF_HUB_CACHE", "/h/hub-cache")]
    [InlineData("HUGGINGFACE_HUB_CACHE", "/h/legacy")]
    [InlineData("HF_HOME", "/h/hf-home/hub")]
    [InlineData("XDG_CACHE_HOME", "/h/xdg/huggingface/hub")]
    [InlineData("default", "/h/home/.cache/huggingface/hub")]
    public void TheCacheRootFollowsHuggingFaceHubsPrecedence(string winner, string expected)
    {
        // Every setting below the winner is present too, so a wrong order picks the wrong one.
        string[] order = ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"];
        var values = new Dictionary<string, string>
        {
            ["HF_HUB_CACHE"] = "/h/hub-cache",
            ["HUGGINGFACE_HUB_CACHE"] = "/h/legacy",
            ["HF_HOME"] = "/h/hf-home",
            ["XDG_CACHE_HOME"] = "/h/xdg",
        };
        int first = winner == "default" ? order.Length : Array.IndexOf(order, winner);
        // Above the winner: set but empty (counts as unset), as `export HF_HUB_CACHE=` leaves it.
        var env = order.Select((name, i) => (name, value: i < first ? "" : values[name])).ToDictionary(p => p.name, p => p.value);
        env["HOME"] = "/h/home";

        var cache = HubCache.FromEnvironment(env.GetValueOrDefault);
        Assert.Equal(expected, cache.Root);
        Assert.Equal(winner, cache.Source);
    }

    [Fact]
    public void ALeadingTildeIsTheHomeFolder()
    {
        var env = new Dictionary<string, string> { ["HOME"] = "/h/me", ["HF_HOME"] = "~/hf" };
        Assert.Equal("/h/me/hf/hub", HubCache.FromEnvironment(env.GetValueOrDefault).Root);
    }

    [Theory]
    [InlineData("org/name", true)]
    [InlineData("EleutherAI/pythia-70m@step1000", true)]
    [InlineData("org/name@refs/pr/1", true)]
    [InlineData("Qwen/Qwen2.5-0.5B", true)]
    [InlineData("name", false)]
    [InlineData("a/b/c", false)]
    [InlineData("/abs/path", false)]
    [InlineData("./rel/dir", false)]
    [InlineData("../x", false)]
    [InlineData("org/name@../../etc", false)]
    [InlineData("org/na me", false)]
    [InlineData("org/name@", false)]
    public void OnlyHubShapedTextIsAnId(string text, bool isId) => Assert.Equal(isId, HubCache.IsModelId(text));

    [Fact]
    public void AnExistingPathWinsOverACacheIdOfTheSameName()
    {
        using var temp = TestPaths.NewTempDirectory();
        var fake = new FakeHubCache(Path.Combine(temp.Path, "hub"));
        string snapshot = fake.AddSnapshot("tiny/llama", CommitA, Llama);
        fake.SetRef("tiny/llama", "main", CommitA);
        var cache = CacheAt(fake.Root);
        string work = Path.Combine(temp.Path, "work");
        Directory.CreateDirectory(work);

        Assert.Equal(snapshot, ModelReference.Resolve("tiny/llama", cache, work));
        Assert.Equal("llama", ModelReference.DisplayName("tiny/llama", snapshot)); // the explorer's id, not the commit
        Directory.CreateDirectory(Path.Combine(work, "tiny", "llama"));
        Assert.Equal(Path.Combine(work, "tiny/llama"), ModelReference.Resolve("tiny/llama", cache, work));
        Assert.Null(ModelReference.DisplayName("tiny/llama", "tiny/llama"));
        // Not id-shaped and not there: left for the loader's own "no such file or directory".
        Assert.Equal(Path.Combine(work, "a/b/c"), ModelReference.Resolve("a/b/c", cache, work));
    }
}
