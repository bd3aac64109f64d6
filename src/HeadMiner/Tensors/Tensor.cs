using System.Runtime.CompilerServices;
using System.Text;

namespace HeadMiner.Tensors;

/// <summary>
/// A float32 tensor: a window (offset, shape, strides in elements) onto a flat <see cref="Memory{T}"/> buffer.
/// The buffer may be a managed array or a memory-mapped file (<see cref="MappedFile"/>); views share it, so
/// Slice, Select, Transpose and legal Reshapes never copy. Kernels take spans of contiguous tensors: call
/// <see cref="Contiguous"/> when a view has to be materialised.
/// <para>
/// A tensor may instead be stored in 16 bits (<see cref="Half"/>: BF16/F16 checkpoint weights, mapped): its values
/// are the widened float32 values, views stay 16-bit, and element access, <see cref="CopyTo"/>,
/// <see cref="Clone"/> and <see cref="ToArray"/> widen only the elements they read. The GEMM reads such a tensor
/// directly (MatrixOperand). Only <see cref="Storage"/> and <see cref="Span"/> widen the whole buffer (once, held
/// weakly: <see cref="HalfStorage.Widened"/>); a 16-bit tensor is read-only.
/// </para>
/// </summary>
public sealed class Tensor
{
    private readonly int[] _shape;
    private readonly int[] _strides;
    private readonly Memory<float> _storage;
    private readonly HalfStorage? _half;

    /// <summary>The whole underlying buffer (shared by every view of it); for a 16-bit tensor, the widened copy of it.</summary>
    public Memory<float> Storage => _half is null ? _storage : _half.Widened();

    /// <summary>The 16-bit storage when this tensor is stored in BF16/F16, else null.</summary>
    public HalfStorage? Half => _half;

    /// <summary>Number of elements in the underlying buffer (without widening a 16-bit one).</summary>
    public int StorageLength => _half is null ? _storage.Length : _half.Length;

    /// <summary>Index of element [0, 0, …] in <see cref="Storage"/>.</summary>
    public int Offset { get; }

    public ReadOnlySpan<int> Shape => _shape;
    public ReadOnlySpan<int> Strides => _strides;
    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public int Length { get; }

    public bool IsContiguous { get; }

    private Tensor(Memory<float> storage, HalfStorage? half, int offset, int[] shape, int[] strides)
    {
        _storage = storage;
        _half = half;
        Offset = offset;
        _shape = shape;
        _strides = strides;
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape {Format(shape)}");
            n *= d;
        }
        if (n > int.MaxValue) throw new ArgumentException($"shape {Format(shape)} has more than 2^31-1 elements");
        Length = (int)n;
        IsContiguous = ComputeIsContiguous(shape, strides);
    }

    // ---- creation -------------------------------------------------------------------------------------------

    /// <summary>A tensor over an existing buffer, without copying. The buffer must hold at least the shape's element count.</summary>
    public static Tensor FromMemory(Memory<float> storage, params int[] shape)
    {
        var t = new Tensor(storage, null, 0, (int[])shape.Clone(), RowMajorStrides(shape));
        if (t.Length > storage.Length)
            throw new ArgumentException($"buffer of {storage.Length} floats is too small for shape {Format(shape)}");
        return t;
    }

    /// <summary>A row-major tensor over 16-bit storage, without copying or widening anything.</summary>
    public static Tensor FromHalf(HalfStorage storage, params int[] shape)
    {
        var t = new Tensor(default, storage, 0, (int[])shape.Clone(), RowMajorStrides(shape));
        if (t.Length > storage.Length)
            throw new ArgumentException($"buffer of {storage.Length} 16-bit values is too small for shape {Format(shape)}");
        return t;
    }

    /// <summary>A tensor over an array, without copying.</summary>
    public static Tensor Wrap(float[] data, params int[] shape) => FromMemory(data, shape);

    /// <summary>A new tensor holding a copy of <paramref name="values"/>.</summary>
    public static Tensor FromSpan(ReadOnlySpan<float> values, params int[] shape)
    {
        var t = Zeros(shape);
        if (values.Length != t.Length)
            throw new ArgumentException($"{values.Length} values do not fill shape {Format(shape)} ({t.Length} elements)");
        values.CopyTo(t.Span);
        return t;
    }

    public static Tensor Zeros(params int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape {Format(shape)}");
            n *= d;
        }
        if (n > int.MaxValue) throw new ArgumentException($"shape {Format(shape)} is too large");
        return Wrap(HugePageArrays.Zeroed((int)n), shape);
    }

    public static Tensor Full(float value, params int[] shape)
    {
        var t = Zeros(shape);
        t.Span.Fill(value);
        return t;
    }

    /// <summary>Normal(0, std²) samples from a seeded generator: the same seed gives the same tensor on every machine.</summary>
    public static Tensor RandomNormal(ulong seed, float std, params int[] shape)
    {
        var t = Zeros(shape);
        new SeededRandom(seed).FillNormal(t.Span, std);
        return t;
    }

    /// <summary>Uniform samples in [low, high) from a seeded generator.</summary>
    public static Tensor RandomUniform(ulong seed, float low, float high, params int[] shape)
    {
        var t = Zeros(shape);
        new SeededRandom(seed).FillUniform(t.Span, low, high);
        return t;
    }

    // ---- element access -------------------------------------------------------------------------------------

    /// <summary>The elements of a contiguous tensor. Throws for strided views: call <see cref="Contiguous"/> first.</summary>
    public Span<float> Span
    {
        get
        {
            if (!IsContiguous) throw new InvalidOperationException($"tensor of shape {ShapeString} with strides {Format(_strides)} is a strided view; call Contiguous() first");
            return Storage.Span.Slice(Offset, Length);
        }
    }

    public float this[params int[] index]
    {
        get => _half is null ? _storage.Span[ElementIndex(index)] : _half[ElementIndex(index)];
        set
        {
            if (_half is not null) throw new InvalidOperationException($"tensor of shape {ShapeString} is stored in 16 bits ({_half.Format}) and read-only; Clone() it to edit");
            _storage.Span[ElementIndex(index)] = value;
        }
    }

    public int Dim(int axis) => _shape[NormalizeAxis(axis)];

    public string ShapeString => Format(_shape);

    /// <summary>The elements in row-major order (a copy).</summary>
    public float[] ToArray()
    {
        if (_half is null) return Contiguous() is var c && ReferenceEquals(c, this) ? Span.ToArray() : c.Span.ToArray();
        var values = new float[Length];
        CopyTo(Wrap(values, _shape));
        return values;
    }

    // ---- views ----------------------------------------------------------------------------------------------

    /// <summary>Elements [start, start+length) along <paramref name="axis"/>; shares storage.</summary>
    public Tensor Slice(int axis, int start, int length)
    {
        axis = NormalizeAxis(axis);
        if (start < 0 || length < 0 || start + length > _shape[axis])
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + length}) is outside axis {axis} of size {_shape[axis]}");
        var shape = (int[])_shape.Clone();
        shape[axis] = length;
        return new Tensor(_storage, _half, Offset + (length == 0 ? 0 : start * _strides[axis]), shape, (int[])_strides.Clone());
    }

    /// <summary>Index <paramref name="index"/> of <paramref name="axis"/>, dropping that axis (e.g. one head of [head, …]).</summary>
    public Tensor Select(int axis, int index)
    {
        axis = NormalizeAxis(axis);
        if ((uint)index >= (uint)_shape[axis])
            throw new ArgumentOutOfRangeException(nameof(index), $"index {index} is outside axis {axis} of size {_shape[axis]}");
        var shape = new int[Rank - 1];
        var strides = new int[Rank - 1];
        for (int i = 0, j = 0; i < Rank; i++)
        {
            if (i == axis) continue;
            shape[j] = _shape[i];
            strides[j++] = _strides[i];
        }
        return new Tensor(_storage, _half, Offset + index * _strides[axis], shape, strides);
    }

    /// <summary>
    /// An arbitrary strided view of the same storage: element [i0, i1, …] is Storage[Offset + offset + Σ i·stride].
    /// Used to express a checkpoint's layout in another convention (e.g. TransformerLens's [head, d_model, d_head]
    /// over a fused [d_model, 3·d_model] matrix) without copying. Every reachable element is bounds-checked.
    /// </summary>
    public Tensor View(int offset, int[] shape, int[] strides)
    {
        if (shape.Length != strides.Length) throw new ArgumentException($"shape {Format(shape)} and strides {Format(strides)} differ in rank");
        long lo = (long)Offset + offset, hi = lo;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0) throw new ArgumentException($"negative dimension in shape {Format(shape)}");
            if (shape[i] == 0) { hi = lo - 1; break; }
            long reach = (long)(shape[i] - 1) * strides[i];
            if (reach < 0) lo += reach; else hi += reach;
        }
        if (hi >= lo && (lo < 0 || hi >= StorageLength))
            throw new ArgumentOutOfRangeException(nameof(offset), $"view {Format(shape)} with strides {Format(strides)} at offset {offset} reaches outside the storage ({StorageLength} {(_half is null ? "floats" : "16-bit values")})");
        return new Tensor(_storage, _half, Offset + offset, (int[])shape.Clone(), (int[])strides.Clone());
    }

    /// <summary>Swaps two axes; shares storage.</summary>
    public Tensor Transpose(int axis0, int axis1)
    {
        axis0 = NormalizeAxis(axis0);
        axis1 = NormalizeAxis(axis1);
        var shape = (int[])_shape.Clone();
        var strides = (int[])_strides.Clone();
        (shape[axis0], shape[axis1]) = (shape[axis1], shape[axis0]);
        (strides[axis0], strides[axis1]) = (strides[axis1], strides[axis0]);
        return new Tensor(_storage, _half, Offset, shape, strides);
    }

    /// <summary>Reorders all axes: result axis i is this tensor's axis order[i]; shares storage.</summary>
    public Tensor Permute(params int[] order)
    {
        if (order.Length != Rank) throw new ArgumentException($"permutation {Format(order)} does not match rank {Rank}");
        var seen = new bool[Rank];
        var shape = new int[Rank];
        var strides = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int a = NormalizeAxis(order[i]);
            if (seen[a]) throw new ArgumentException($"permutation {Format(order)} repeats axis {a}");
            seen[a] = true;
            shape[i] = _shape[a];
            strides[i] = _strides[a];
        }
        return new Tensor(_storage, _half, Offset, shape, strides);
    }

    /// <summary>
    /// The same elements in a new shape, without copying. Legal when the tensor is contiguous (one dimension may be −1);
    /// otherwise throws and the caller decides whether to pay for <see cref="Contiguous"/>.
    /// </summary>
    public Tensor Reshape(params int[] shape)
    {
        shape = (int[])shape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"reshape {Format(shape)} has more than one -1");
                infer = i;
            }
            else known *= shape[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || Length % known != 0) throw new ArgumentException($"cannot reshape {ShapeString} to {Format(shape)}");
            shape[infer] = (int)(Length / known);
            known *= shape[infer];
        }
        if (known != Length) throw new ArgumentException($"cannot reshape {ShapeString} ({Length} elements) to {Format(shape)}");
        if (!IsContiguous) throw new InvalidOperationException($"reshape of a strided view {ShapeString} would need a copy; call Contiguous() first");
        return new Tensor(_storage, _half, Offset, shape, RowMajorStrides(shape));
    }

    /// <summary>
    /// This tensor if it is already contiguous, otherwise a row-major copy. A contiguous 16-bit view of part of its
    /// storage (one head's or one token's slice of a checkpoint tensor) is copied too, as float32: its
    /// <see cref="Span"/> would otherwise widen the whole underlying checkpoint tensor to read a slice of it.
    /// </summary>
    public Tensor Contiguous() => IsContiguous && (_half is null || Length == _half.Length) ? this : Clone();

    /// <summary>A row-major copy that shares nothing with this tensor.</summary>
    public Tensor Clone()
    {
        var result = Zeros(_shape);
        CopyTo(result);
        return result;
    }

    /// <summary>Copies the elements into <paramref name="destination"/>, which must have the same shape (any strides).</summary>
    public void CopyTo(Tensor destination)
    {
        if (!Shape.SequenceEqual(destination.Shape))
            throw new ArgumentException($"shape {ShapeString} does not match destination {destination.ShapeString}");
        if (destination._half is not null) throw new InvalidOperationException($"destination of shape {destination.ShapeString} is stored in 16 bits and read-only");
        if (_half is not null)
        {
            CopyHalfTo(destination);
            return;
        }
        if (IsContiguous && destination.IsContiguous)
        {
            Span.CopyTo(destination.Span);
            return;
        }
        if (Length == 0) return;
        var src = _storage.Span;
        var dst = destination._storage.Span;
        int rank = Rank;
        if (rank == 0)
        {
            dst[destination.Offset] = src[Offset];
            return;
        }
        // Walk every index but the last with an odometer; the innermost axis is a strided run.
        Span<int> idx = stackalloc int[rank];
        int inner = _shape[rank - 1], sIn = _strides[rank - 1], dIn = destination._strides[rank - 1];
        while (true)
        {
            int s = Offset, d = destination.Offset;
            for (int a = 0; a < rank - 1; a++)
            {
                s += idx[a] * _strides[a];
                d += idx[a] * destination._strides[a];
            }
            if (sIn == 1 && dIn == 1) src.Slice(s, inner).CopyTo(dst.Slice(d, inner));
            else for (int i = 0; i < inner; i++) dst[d + i * dIn] = src[s + i * sIn];
            int ax = rank - 2;
            while (ax >= 0 && ++idx[ax] == _shape[ax]) idx[ax--] = 0;
            if (ax < 0) break;
        }
    }

    /// <summary><see cref="CopyTo"/> from 16-bit storage: widens each innermost run straight into the destination.</summary>
    private void CopyHalfTo(Tensor destination)
    {
        if (Length == 0) return;
        var src = _half!.Bits.Span;
        var format = _half.Format;
        var dst = destination._storage.Span;
        if (IsContiguous && destination.IsContiguous)
        {
            HalfWidening.ToFloat(src.Slice(Offset, Length), dst.Slice(destination.Offset, Length), format);
            return;
        }
        int rank = Rank;
        if (rank == 0)
        {
            dst[destination.Offset] = HalfWidening.ToFloat(src[Offset], format);
            return;
        }
        Span<int> idx = stackalloc int[rank];
        int inner = _shape[rank - 1], sIn = _strides[rank - 1], dIn = destination._strides[rank - 1];
        while (true)
        {
            int s = Offset, d = destination.Offset;
            for (int a = 0; a < rank - 1; a++)
            {
                s += idx[a] * _strides[a];
                d += idx[a] * destination._strides[a];
            }
            if (sIn == 1 && dIn == 1) HalfWidening.ToFloat(src.Slice(s, inner), dst.Slice(d, inner), format);
            else for (int i = 0; i < inner; i++) dst[d + i * dIn] = HalfWidening.ToFloat(src[s + i * sIn], format);
            int ax = rank - 2;
            while (ax >= 0 && ++idx[ax] == _shape[ax]) idx[ax--] = 0;
            if (ax < 0) break;
        }
    }

    public override string ToString()
    {
        var sb = new StringBuilder($"Tensor{ShapeString}");
        if (Length <= 16)
        {
            var values = ToArray();
            sb.Append(" [").Append(string.Join(", ", values.Select(v => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)))).Append(']');
        }
        return sb.ToString();
    }

    // ---- helpers --------------------------------------------------------------------------------------------

    public static int[] RowMajorStrides(ReadOnlySpan<int> shape)
    {
        var strides = new int[shape.Length];
        int s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    private static bool ComputeIsContiguous(int[] shape, int[] strides)
    {
        if (Array.IndexOf(shape, 0) >= 0) return true; // no elements: any strides describe the same (empty) layout
        int expected = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            if (shape[i] == 1) continue; // a size-1 axis may carry any stride
            if (strides[i] != expected) return false;
            expected *= shape[i];
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ElementIndex(int[] index)
    {
        if (index.Length != Rank) throw new ArgumentException($"{index.Length} indices for a tensor of rank {Rank}");
        int e = Offset;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)_shape[i])
                throw new IndexOutOfRangeException($"index {Format(index)} is outside shape {ShapeString}");
            e += index[i] * _strides[i];
        }
        return e;
    }

    private int NormalizeAxis(int axis)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if ((uint)a >= (uint)Rank) throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} is outside rank {Rank}");
        return a;
    }

    internal static string Format(ReadOnlySpan<int> values)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < values.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(values[i]);
        }
        return sb.Append(']').ToString();
    }
}
