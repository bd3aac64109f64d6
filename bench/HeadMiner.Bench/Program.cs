// HeadMiner benchmarks: `dotnet run -c Release --project bench/HeadMiner.Bench -- <name>`.
// Every benchmark prints our numbers next to a reference measured in the same run.
using HeadMiner.Bench;

return BenchRegistry.Run(args);
