using System.CommandLine;
using System.Diagnostics;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer atlas`: the main job. Until the head atlas lands (issue 6) this runs a self-check demo of the tensor
/// engine, so that the README's first command already restores, builds and runs end to end.
/// </summary>
public static class AtlasCommand
{
    public static Command Create()
    {
        var command = new Command("atlas", "Map what every attention head of a model does (placeholder: tensor-engine demo).");
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine("The head atlas is not built yet; running the tensor-engine demo instead.");
            const int n = 512;
            var a = Tensor.RandomNormal(1, 1f, n, n);
            var b = Tensor.RandomNormal(2, 1f, n, n);
            var c = Tensor.Zeros(n, n);
            Gemm.Multiply(false, false, n, n, n, 1f, a.Span, n, b.Span, n, 0f, c.Span, n);
            var sw = Stopwatch.StartNew();
            Gemm.Multiply(false, false, n, n, n, 1f, a.Span, n, b.Span, n, 0f, c.Span, n);
            double seconds = sw.Elapsed.TotalSeconds;
            output.WriteLine($"GEMM {n}x{n}x{n}: {2.0 * n * n * n / seconds / 1e9:F1} GFLOP/s");
            return ExitCodes.Success;
        });
        return command;
    }
}
