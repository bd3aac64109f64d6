using HeadMiner.Cluster;

namespace HeadMiner.Tests.Cluster;

/// <summary>A worker whose model files differ from the coordinator's refuses the unit: an error, not a mixed result.</summary>
public class ModelHostTests
{
    [Fact]
    public void AWorkerWithDifferentFilesIsAnErrorNamingBothFingerprints()
    {
        string original = Path.Combine(TestPaths.RepoRoot, "models", "embedded");
        string copy = Directory.CreateTempSubdirectory("headminer-fingerprint-").FullName;
        try
        {
            foreach (string file in Directory.GetFiles(original)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            string expected = ModelFingerprint.Of(original);
            Assert.Equal(expected, ModelFingerprint.Of(copy));
            Assert.StartsWith(ModelFingerprint.Prefix, expected);
            var run = new RunSpec { RunId = "atlas-test", Kind = "atlas", Model = copy, Process = false, WeightsOnly = false, AllowUnused = false, Fingerprint = expected, Job = "{}" };

            using (var host = new ModelHost(p => p) { Name = "w1" })
                Assert.Equal(4, host.Get(run).Model.Config.Layers); // same files: the model loads

            // One changed byte of the config (still valid JSON, same model): a different fingerprint.
            string configPath = Path.Combine(copy, "config.json");
            File.WriteAllText(configPath, File.ReadAllText(configPath) + " ");
            Assert.NotEqual(expected, ModelFingerprint.Of(copy));
            using (var host = new ModelHost(p => p) { Name = "w2" })
            {
                var e = Assert.Throws<HeadMinerException>(() => host.Get(run));
                Assert.Contains($"worker w2: model {copy}", e.Message);
                Assert.Contains($"but the run's is {expected}: every worker needs the same model files", e.Message);
            }
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }
}
