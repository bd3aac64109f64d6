using System.Globalization;

namespace HeadMiner.Tensors;

/// <summary>
/// The process's resident set as Linux reports it (/proc/self/status): the current size (VmRSS) and the peak since the
/// process started (VmHWM). Long analyses report the peak per phase (<see cref="PhasePeak"/>) so that the phase that
/// needs the memory is named, not guessed. Mapped checkpoint pages count once they are touched, as they do for the
/// operating system. On other systems every reading is null.
/// </summary>
public static class ResidentMemory
{
    /// <summary>VmRSS in bytes, or null where /proc is not available.</summary>
    public static long? CurrentBytes() => Read("VmRSS:");

    /// <summary>VmHWM in bytes (the peak since the process started), or null where /proc is not available.</summary>
    public static long? PeakBytes() => Read("VmHWM:");

    /// <summary>
    /// The peak resident set of one phase. The kernel's peak cannot be restarted without changing what the whole
    /// process reports afterwards (writing 5 to clear_refs also lowers the ru_maxrss that /usr/bin/time and the
    /// benchmarks read), so a phase samples VmRSS every few milliseconds; when the process-wide peak
    /// rose during the phase, that new peak is the phase's, exactly.
    /// </summary>
    public sealed class PhasePeak : IDisposable
    {
        private readonly long? _startPeak = PeakBytes();
        private readonly Timer? _timer;
        private long _sampled;

        public PhasePeak(int intervalMs = 20)
        {
            if (_startPeak is null) return;
            Sample();
            _timer = new Timer(_ => Sample(), null, intervalMs, intervalMs);
        }

        private void Sample()
        {
            if (CurrentBytes() is long now)
            {
                long seen = Interlocked.Read(ref _sampled);
                while (now > seen && Interlocked.CompareExchange(ref _sampled, now, seen) != seen) seen = Interlocked.Read(ref _sampled);
            }
        }

        /// <summary>The phase's peak so far in bytes; null where the system does not report it.</summary>
        public long? Bytes
        {
            get
            {
                if (_startPeak is not long start || PeakBytes() is not long peak) return null;
                Sample();
                return peak > start ? peak : Interlocked.Read(ref _sampled);
            }
        }

        public void Dispose() => _timer?.Dispose();
    }

    private static long? Read(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(field.Length).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux (or /proc hidden): no reading.
        }
        return null;
    }
}
