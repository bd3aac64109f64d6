namespace HeadMiner.Tensors;

/// <summary>
/// A write-only stream that hands its bytes to a file only in whole chunks of <see cref="ChunkBytes"/> (2 MiB) at
/// offsets that are multiples of it, except for the tail written by <see cref="Complete"/>.
/// </summary>
/// <remarks>
/// <para>Why: Linux builds a file's page cache from the writes that create it. A file system with large folios
/// (ext4 since Linux 6.16, XFS) caches a 2 MiB-aligned write of 2 MiB as one 2 MiB folio. A later read-only
/// mapping of the file then maps it by one page-table entry per 2 MiB (<c>FilePmdMapped</c> in
/// <c>/proc/self/smaps</c>). Written 64 KiB at a time, as a buffered FileStream writes, the same file is cached in small folios and
/// mapped per 4 KiB page, and it stays so until the cache drops it.</para>
/// <para>That matters for checkpoints, which <see cref="MappedFile"/> maps and the GEMM reads once per forward. On
/// 4 KiB pages every 4 KiB of weights costs a TLB miss and a page walk, and in a virtual machine that walk is two-level.
/// This project's Zen 5 KVM guest measured:</para>
/// <list type="bullet">
/// <item>the Llama-3.2-1B-shaped bf16 forward at 1×128 went from 632–654 ms to 500–540 ms on 2 MiB pages;</item>
/// <item>GPT-2 small's weight packing no longer slows down when another program runs between two forwards
/// (docs/PERFORMANCE.md).</item>
/// </list>
/// <para><see cref="Flush"/> writes nothing. A partial chunk written early would misalign every later one. Callers
/// of <see cref="AtomicFile"/> publish nothing before the final rename anyway.</para>
/// </remarks>
internal sealed class AlignedChunkStream(Stream file) : Stream
{
    public const int ChunkBytes = 2 << 20;

    private byte[]? _chunk; // grows up to ChunkBytes
    private int _filled;
    private long _passedOn;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;

    /// <summary>Bytes written so far (those still in the chunk buffer included).</summary>
    public override long Length => _passedOn + _filled;

    /// <summary>Same as <see cref="Length"/>; setting it is not supported.</summary>
    public override long Position
    {
        get => Length;
        set => throw new NotSupportedException("AlignedChunkStream only appends");
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            if (_filled == 0 && buffer.Length >= ChunkBytes)
            {
                // Aligned already: pass whole chunks on without copying them.
                int whole = buffer.Length / ChunkBytes * ChunkBytes;
                file.Write(buffer[..whole]);
                _passedOn += whole;
                buffer = buffer[whole..];
                continue;
            }
            int n = Math.Min(ChunkBytes - _filled, buffer.Length);
            EnsureRoom(_filled + n);
            buffer[..n].CopyTo(_chunk.AsSpan(_filled));
            _filled += n;
            buffer = buffer[n..];
            if (_filled == ChunkBytes) PassOnChunk();
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Writes nothing: see the remarks.</summary>
    public override void Flush() { }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Passes on the last, partial chunk. Call once, after the final write.</summary>
    public void Complete()
    {
        if (_filled > 0) PassOnChunk();
    }

    // The buffer grows to the full chunk only for files that need it: most files written through AtomicFile are
    // small JSON, CSV and HTML.
    private void EnsureRoom(int bytes)
    {
        if (_chunk is not null && _chunk.Length >= bytes) return;
        int size = Math.Min(ChunkBytes, Math.Max(bytes, Math.Max(4096, 2 * (_chunk?.Length ?? 0))));
        var grown = GC.AllocateUninitializedArray<byte>(size);
        if (_filled > 0) _chunk.AsSpan(0, _filled).CopyTo(grown);
        _chunk = grown;
    }

    private void PassOnChunk()
    {
        file.Write(_chunk.AsSpan(0, _filled));
        _passedOn += _filled;
        _filled = 0;
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("AlignedChunkStream is write-only");
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("AlignedChunkStream only appends");
    public override void SetLength(long value) => throw new NotSupportedException("AlignedChunkStream only appends");
}
