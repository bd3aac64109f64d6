namespace HeadMiner.Tests.Robustness;

/// <summary>
/// The robustness suite's FsCheck settings, in one place: a fixed seed (so a failure reproduces on every run and in
/// CI) and a modest number of cases per property (the whole suite stays well under a minute on two cores).
/// </summary>
internal static class FuzzSettings
{
    /// <summary>FsCheck replay seed "seed,gamma" (gamma odd).</summary>
    public const string Seed = "20261201,12345";

    /// <summary>Cases per property whose cases each load a small model (a few milliseconds each).</summary>
    public const int Cases = 200;

    /// <summary>Cases per property whose cases run an analysis on the embedded model (tens of milliseconds each).</summary>
    public const int CostlyCases = 120;
}
