using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// Memory a micro-kernel asks to be brought into L2 while it computes its tile: runs of <see cref="_runBytes"/>
/// contiguous bytes, <see cref="_stride"/> bytes apart, requested 128 bytes at a time, one request every
/// <see cref="_interval"/> depth steps. The requests are spread through the tile's work, not issued in a burst before
/// it: a burst fills the core's miss queues, stalls the pipeline and sees later requests dropped.
/// </summary>
/// <remarks>
/// Why the kernel does it: the few-rows order packs each B panel straight from the weights, which come from memory.
/// Requested in bursts before each tile, the packing still waited on memory: 13% of GPT-2 small's 1×128 forward in
/// `perf` (rows of its Conv1D weights are kilobytes apart, each on its own page, where the hardware prefetchers do
/// not follow), 17.5% of the Llama-3.2-1B shape's.
/// </remarks>
internal unsafe struct GemmPrefetch
{
    /// <summary>Nothing to fetch.</summary>
    public static GemmPrefetch None => default;

    /// <summary>Bytes of one request (three line requests cover 128 bytes at any alignment).</summary>
    public const int StepBytes = 128;

    private byte* _next, _runEnd;
    private readonly nint _runBytes, _stride;
    private int _left;
    private readonly int _interval;

    /// <summary>
    /// <paramref name="runs"/> runs of <paramref name="runBytes"/> bytes from <paramref name="first"/>,
    /// <paramref name="stride"/> bytes apart, spread over a tile of depth <paramref name="depth"/>: at most one request
    /// per depth step, so what does not fit is left to the hardware.
    /// </summary>
    public GemmPrefetch(byte* first, nint runBytes, nint stride, int runs, int depth)
    {
        _next = first;
        _runEnd = first + runBytes;
        _runBytes = runBytes;
        _stride = stride;
        int steps = (int)Math.Min((long)runs * ((runBytes + StepBytes - 1) / StepBytes), depth);
        _left = steps;
        _interval = steps > 0 ? depth / steps : 0;
    }

    /// <summary>The first depth step that requests anything (int.MaxValue when nothing is to be fetched).</summary>
    public readonly int FirstStep => _left > 0 ? 0 : int.MaxValue;

    /// <summary>Requests the next 128 bytes into L2; returns the depth step of the next request (int.MaxValue when done).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Request(int step)
    {
        Sse.Prefetch1(_next);
        Sse.Prefetch1(_next + 64);
        Sse.Prefetch1(_next + (StepBytes - 1));
        _next += StepBytes;
        if (_next >= _runEnd)
        {
            _next = _runEnd - _runBytes + _stride;
            _runEnd = _next + _runBytes;
        }
        return --_left > 0 ? step + _interval : int.MaxValue;
    }
}
