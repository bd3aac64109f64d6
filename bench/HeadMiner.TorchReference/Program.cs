// LibTorch 2.10 (TorchSharp-cpu) as the speed reference, in the same process: `bench/HeadMiner.TorchReference/run.sh <name>`.
using HeadMiner.TorchReference;

return ReferenceRegistry.Run(args);
