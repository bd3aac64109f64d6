using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace HeadMiner.Tensors;

/// <summary>
/// A read-only memory-mapped file. <see cref="Floats"/> hands out <see cref="Memory{T}"/> windows straight onto the
/// mapping, so tensors built on them (<see cref="Tensor.FromMemory"/>) cost no copy and no managed heap: the OS pages
/// weights in on first touch and can drop them under pressure. Keep the MappedFile alive as long as its tensors.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _pointer;

    public string Path { get; }
    public long Length { get; }

    public MappedFile(string path)
    {
        Path = path;
        // The length comes from the open handle, which follows symbolic links (a FileInfo of a link would give the
        // link's own size: the Hugging Face cache stores every file as one).
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            Length = stream.Length;
            if (Length == 0) throw new InvalidDataException($"{path}: file is empty");
            _file = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
        _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _pointer = p + _view.PointerOffset;
        // Pages of the file that are not cached yet come in as 2 MiB folios and are mapped by one entry per 2 MiB
        // (the kernel's huge-page readahead for advised mappings). The GEMM reads every weight once per forward, and
        // on 4 KiB pages each 4 KiB costs a page walk: see AlignedChunkStream for what that measured. A file already
        // cached in small folios stays so until the cache drops it; ResidentPages tells which case a run got.
        HugePageArrays.AdviseRange((nint)p, Length + _view.PointerOffset);
    }

    /// <summary>
    /// How much of the mapping is resident now, and how much of that is mapped in 2 MiB pages, from
    /// /proc/self/smaps; null where that file does not exist (not Linux).
    /// </summary>
    public MappingResidency? ResidentPages()
    {
        if (_pointer == null) throw new ObjectDisposedException(Path);
        return MappingResidency.Read((nint)_pointer);
    }

    /// <summary>The raw bytes [offset, offset+count).</summary>
    public ReadOnlySpan<byte> Bytes(long offset, int count)
    {
        CheckRange(offset, count, 1);
        return new ReadOnlySpan<byte>(_pointer + offset, count);
    }

    /// <summary>A window of <paramref name="count"/> float32 values starting at byte <paramref name="byteOffset"/>. No copy.</summary>
    public Memory<float> Floats(long byteOffset, int count)
    {
        CheckRange(byteOffset, count, sizeof(float));
        return new PointerMemoryManager<float>((float*)(_pointer + byteOffset), count).Memory;
    }

    /// <summary>A window of <paramref name="count"/> 16-bit values (F16/BF16 storage) starting at <paramref name="byteOffset"/>. No copy.</summary>
    public Memory<ushort> Halves(long byteOffset, int count)
    {
        CheckRange(byteOffset, count, sizeof(ushort));
        return new PointerMemoryManager<ushort>((ushort*)(_pointer + byteOffset), count).Memory;
    }

    private void CheckRange(long offset, long count, int elementSize)
    {
        if (_pointer == null) throw new ObjectDisposedException(Path);
        if (offset < 0 || count < 0 || offset + count * elementSize > Length)
            throw new InvalidDataException($"{Path}: byte range [{offset}, {offset + count * elementSize}) is outside the file ({Length} bytes)");
    }

    public void Dispose()
    {
        if (_pointer == null) return;
        _pointer = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    /// <summary>Exposes native memory as <see cref="Memory{T}"/>; lifetime is the owning MappedFile's.</summary>
    private sealed class PointerMemoryManager<T>(T* pointer, int length) : MemoryManager<T> where T : unmanaged
    {
        public override Span<T> GetSpan() => new(pointer, length);
        public override MemoryHandle Pin(int elementIndex = 0) => new(pointer + elementIndex);
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }
    }
}
