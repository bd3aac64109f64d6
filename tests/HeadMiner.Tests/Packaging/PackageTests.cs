using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using HeadMiner.Cli;
using HeadMiner.Models;

namespace HeadMiner.Tests.Packaging;

/// <summary>
/// `dotnet pack` gives the library package (with XML docs and symbols) and the CLI tool package; a throwaway console
/// project that references the library package from a local folder source, and nothing of this repository, runs a
/// forward pass on the embedded model and prints the same logits as the in-process forward. Restore is offline for
/// the library (a local source) and reads its dependencies from the machine's global packages folder.
/// </summary>
[Collection(DotnetBuildCollection.Name)]
public class PackageTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private const string Prompt = "When Mary and John went to the store, John gave a drink to";

    [Fact]
    public void TheLibraryPackageRunsAForwardInAThrowawayProjectAndTheToolPacks()
    {
        using var dir = TestPaths.NewTempDirectory();
        string feed = Path.Combine(dir.Path, "feed");
        // --no-build: the test run built both projects already; packing them is what is under test.
        Dotnet(TestPaths.RepoRoot, "pack", Path.Combine("src", "HeadMiner", "HeadMiner.csproj"), "-c", Configuration, "--no-build", "-o", feed);
        Dotnet(TestPaths.RepoRoot, "pack", Path.Combine("src", "HeadMiner.Cli", "HeadMiner.Cli.csproj"), "-c", Configuration, "--no-build", "-o", feed);

        string library = Directory.GetFiles(feed, "HeadMiner.0*.nupkg").Single(f => !f.EndsWith(".symbols.nupkg", StringComparison.Ordinal));
        string version = Path.GetFileNameWithoutExtension(library)["HeadMiner.".Length..];
        using (var zip = ZipFile.OpenRead(library))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
            Assert.Contains("lib/net10.0/HeadMiner.dll", entries);
            Assert.Contains("lib/net10.0/HeadMiner.xml", entries); // XML docs for IntelliSense
            Assert.Contains("README.md", entries);
        }
        Assert.True(File.Exists(Path.Combine(feed, $"HeadMiner.{version}.snupkg")), "symbols package");
        using (var tool = ZipFile.OpenRead(Path.Combine(feed, $"HeadMiner.Cli.{version}.nupkg")))
            Assert.Contains(tool.Entries, e => e.FullName.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal));

        string app = Path.Combine(dir.Path, "app");
        Directory.CreateDirectory(app);
        string globalPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        // A private packages folder, so a package of the same version from an earlier run is never reused; the
        // dependencies come from the global folder (fallback) without a download.
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{Path.Combine(dir.Path, "packages")}" /></config>
              <packageSources><add key="headminer-test-feed" value="{feed}" /></packageSources>
              <fallbackPackageFolders><add key="global" value="{globalPackages}" /></fallbackPackageFolders>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <InvariantGlobalization>true</InvariantGlobalization>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="HeadMiner" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using System.Globalization;
            using HeadMiner.Models;

            using var loaded = ModelLoader.Load(args[0]);
            var ids = loaded.Tokenizer!.Encode(args[1]);
            var logits = loaded.Model.Forward(ids);
            int vocab = loaded.Model.Config.VocabSize;
            var last = logits.Span.Slice((ids.Length - 1) * vocab, vocab).ToArray();
            Console.WriteLine(string.Join(" ", last.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
            """);
        Dotnet(app, "build", "-c", "Release", "-o", Path.Combine(app, "out"));
        string output = Dotnet(app, Path.Combine(app, "out", "app.dll"), DefaultModel.Path!, Prompt);

        using var model = ModelLoader.Load(DefaultModel.Path!);
        var ids = model.Tokenizer!.Encode(Prompt);
        int v = model.Model.Config.VocabSize;
        var expected = model.Model.Forward(ids).Span.Slice((ids.Length - 1) * v, v).ToArray();
        var printed = output.Trim().Split(' ').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(expected, printed);
    }

    /// <summary>Runs the dotnet host in <paramref name="workDir"/>; a non-zero exit fails with its output.</summary>
    private static string Dotnet(string workDir, params string[] args)
    {
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var start = new ProcessStartInfo(host) { WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = error.GetAwaiter().GetResult();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', args)} in {workDir} exited {process.ExitCode}:\n{stdout}\n{stderr}");
        return stdout;
    }
}
