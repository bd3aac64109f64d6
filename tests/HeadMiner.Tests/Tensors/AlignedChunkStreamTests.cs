using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tensors;

public class AlignedChunkStreamTests
{
    private const int Chunk = AlignedChunkStream.ChunkBytes;

    /// <summary>Records every write the chunk stream passes on: where it starts and what it holds.</summary>
    private sealed class RecordingStream : MemoryStream
    {
        public List<(long Offset, int Length)> Writes { get; } = [];

        // MemoryStream's span overload calls back into the array one in a derived type, so each records on its own.
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Writes.Add((Position, buffer.Length));
            base.Write(buffer.ToArray(), 0, buffer.Length);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Writes.Add((Position, count));
            base.Write(buffer, offset, count);
        }
    }

    /// <summary>
    /// Whatever the sizes of the writes it receives (single bytes, odd sizes, several chunks at once, aligned or not),
    /// the stream passes the same bytes on in order. Every write but the last starts on a 2 MiB boundary and is a
    /// whole number of chunks. Its position counts every byte received, the buffered ones included.
    /// </summary>
    [Theory]
    [InlineData(1UL, 3)]
    [InlineData(7UL, 11)]
    [InlineData(2024UL, 40)]
    public async Task PassesTheSameBytesOnInWholeAlignedChunks(ulong seed, int writes)
    {
        var random = new SeededRandom(seed);
        var file = new RecordingStream();
        var stream = new AlignedChunkStream(file);
        var expected = new MemoryStream();
        int[] sizes = [1, 3, 4093, 65_537, Chunk - 1, Chunk, Chunk + 1, 2 * Chunk, 3 * Chunk + 17];
        for (int w = 0; w < writes; w++)
        {
            int size = sizes[random.NextInt(sizes.Length)];
            var data = new byte[size];
            for (int i = 0; i < size; i += 97) data[i] = (byte)random.NextInt(256);
            data[^1] = (byte)(w + 1);
            switch (w % 3)
            {
                case 0: stream.Write(data); break;
                case 1: stream.Write(data, 0, size); break;
                default: await stream.WriteAsync(data.AsMemory()); break;
            }
            expected.Write(data);
            Assert.Equal(expected.Length, stream.Position);
            Assert.Equal(expected.Length, stream.Length);
        }
        stream.WriteByte(0xA5);
        expected.WriteByte(0xA5);
        stream.Flush(); // writes nothing: an early partial chunk would misalign the rest
        Assert.All(file.Writes, w => Assert.Equal(0, w.Length % Chunk));
        stream.Complete();

        Assert.Equal(expected.ToArray(), file.ToArray());
        Assert.NotEmpty(file.Writes);
        for (int i = 0; i < file.Writes.Count; i++)
        {
            var (offset, length) = file.Writes[i];
            Assert.Equal(0, offset % Chunk);
            if (i < file.Writes.Count - 1) Assert.Equal(0, length % Chunk);
        }
    }

    [Fact]
    public void ASmallFileIsOneWriteAtTheEnd()
    {
        var file = new RecordingStream();
        var stream = new AlignedChunkStream(file);
        stream.Write("{\"a\": 1}"u8);
        stream.Write("\n"u8);
        Assert.Empty(file.Writes);
        stream.Complete();
        Assert.Equal([(0L, 9)], file.Writes);
        Assert.Equal("{\"a\": 1}\n"u8.ToArray(), file.ToArray());
    }

    [Fact]
    public void ItOnlyAppends()
    {
        var stream = new AlignedChunkStream(new MemoryStream());
        Assert.False(stream.CanSeek);
        Assert.False(stream.CanRead);
        Assert.Throws<NotSupportedException>(() => stream.Seek(0, SeekOrigin.Begin));
        Assert.Throws<NotSupportedException>(() => stream.Position = 0);
        Assert.Throws<NotSupportedException>(() => stream.Read(new byte[1], 0, 1));
    }

    /// <summary>Files written through <see cref="AtomicFile"/> get the same bytes, across several chunks.</summary>
    [Fact]
    public void AtomicFileWritesWholeFilesThroughIt()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("big.bin");
        var data = new byte[2 * Chunk + 12_345];
        new Random(5).NextBytes(data);
        AtomicFile.Write(path, s =>
        {
            s.Write(data.AsSpan(0, 100));
            Assert.Equal(100, s.Position);
            s.Write(data.AsSpan(100));
            Assert.Equal(data.Length, s.Position);
        });
        Assert.Equal(data, File.ReadAllBytes(path));
    }
}
