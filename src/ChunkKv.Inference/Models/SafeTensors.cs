using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Models;

/// <summary>Element types of a safetensors file the engine reads.</summary>
public enum TensorType
{
    F32,
    F16,
    BF16,
}

/// <summary>One tensor in a safetensors file: its type, shape and byte range in the data section.</summary>
public sealed record TensorEntry(string Name, TensorType Type, long[] Shape, long Offset, long Length)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);

    public static int ElementSize(TensorType type) => type == TensorType.F32 ? 4 : 2;
}

/// <summary>
/// A memory-mapped safetensors file (8-byte little-endian header length, JSON header, raw data).
/// Tensors are read in place from the mapping; nothing is copied until a caller converts them.
/// </summary>
public sealed unsafe partial class SafeTensorsFile : IDisposable
{
    private readonly MemoryMappedFile mapping;
    private readonly MemoryMappedViewAccessor view;
    private readonly byte* data;
    private readonly long dataLength;
    private bool disposed;

    private SafeTensorsFile(string path, MemoryMappedFile mapping, MemoryMappedViewAccessor view, byte* basePointer,
        long dataStart, long dataLength, IReadOnlyDictionary<string, TensorEntry> tensors, byte[] header)
    {
        Path = path;
        this.mapping = mapping;
        this.view = view;
        data = basePointer + dataStart;
        this.dataLength = dataLength;
        Tensors = tensors;
        HeaderBytes = header;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, TensorEntry> Tensors { get; }

    /// <summary>The JSON header as stored (part of the model fingerprint).</summary>
    public byte[] HeaderBytes { get; }

    public static SafeTensorsFile Open(string path)
    {
        // The Hugging Face cache's snapshot folders hold symbolic links to its blobs: measure the file, not the link.
        var file = new FileInfo(path);
        var length = (file.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? file).Length;
        var name = System.IO.Path.GetFileName(path);
        if (length < 8)
        {
            throw new ModelFormatException($"{name}: {length} bytes is too short for a safetensors file");
        }
        var mapping = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        try
        {
            byte* basePointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
            basePointer += view.PointerOffset;
            var headerLength = BinaryPrimitives.ReadInt64LittleEndian(new ReadOnlySpan<byte>(basePointer, 8));
            if (headerLength <= 0 || headerLength > length - 8)
            {
                throw new ModelFormatException($"{name}: header length {headerLength} does not fit a {length}-byte file");
            }
            var header = new ReadOnlySpan<byte>(basePointer + 8, (int)headerLength).ToArray();
            var dataLength = length - 8 - headerLength;
            var tensors = ParseHeader(name, header, dataLength);
            return new SafeTensorsFile(path, mapping, view, basePointer, 8 + headerLength, dataLength, tensors, header);
        }
        catch
        {
            view.Dispose();
            mapping.Dispose();
            throw;
        }
    }

    /// <summary>The bytes of one tensor, in place in the mapping (valid until this file is disposed).</summary>
    public ReadOnlySpan<byte> Bytes(TensorEntry entry)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return new ReadOnlySpan<byte>(data + entry.Offset, checked((int)entry.Length));
    }

    /// <summary>
    /// <paramref name="length"/> bytes of one tensor from <paramref name="offset"/>, in place; any
    /// part of a tensor of any size (a span of a whole tensor over 2 GiB cannot exist).
    /// </summary>
    public ReadOnlySpan<byte> Bytes(TensorEntry entry, long offset, int length)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + length, entry.Length, nameof(length));
        return new ReadOnlySpan<byte>(data + entry.Offset + offset, length);
    }

    /// <summary>A pointer to one tensor's bytes in the mapping (for tensors over 2 GiB).</summary>
    public byte* Address(TensorEntry entry)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return data + entry.Offset;
    }

    /// <summary>
    /// Takes the tensor's mapped pages out of this process (Linux <c>MADV_DONTNEED</c>; they stay in
    /// the page cache and come back if read again) once it has been converted, so that converting a
    /// model never holds both copies of it: the peak stays at the converted weights plus one tensor.
    /// </summary>
    public void DropPages(TensorEntry entry) => DropPages(entry, 0, entry.Length);

    /// <summary>
    /// As <see cref="DropPages(TensorEntry)"/> for the bytes <c>[offset, offset + length)</c> of the tensor:
    /// dropped block by block as a large tensor is converted, the peak is the converted weights plus a few
    /// blocks (an 8B model's 1 GB embedding no longer sits beside its quantized copy). Only the pages
    /// wholly inside the range go: the neighbours may still be being read.
    /// </summary>
    public void DropPages(TensorEntry entry, long offset, long length)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + length, entry.Length, nameof(length));
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        var pageSize = (nuint)Environment.SystemPageSize;
        var start = (nuint)(data + entry.Offset + offset);
        var first = (start + pageSize - 1) / pageSize * pageSize;
        var end = (start + (nuint)length) / pageSize * pageSize;
        if (end > first)
        {
            _ = madvise((void*)first, end - first, DontNeed);
        }
    }

    private const int DontNeed = 4;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(void* address, nuint length, int advice);

    private static Dictionary<string, TensorEntry> ParseHeader(string file, byte[] header, long dataLength)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(header)?.AsObject() ?? throw new ModelFormatException($"{file}: empty header");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{file}: header is not valid JSON: {e.Message}", e);
        }
        var tensors = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        foreach (var (name, node) in root)
        {
            if (name == "__metadata__")
            {
                continue;
            }
            var dtype = node?["dtype"]?.GetValue<string>();
            var type = dtype switch
            {
                "F32" => TensorType.F32,
                "F16" => TensorType.F16,
                "BF16" => TensorType.BF16,
                _ => throw new ModelFormatException($"{file}: tensor '{name}' has dtype {dtype ?? "(none)"}; F32, F16 and BF16 are supported"),
            };
            var shape = (node!["shape"] as JsonArray)?.Select(d => d!.GetValue<long>()).ToArray()
                ?? throw new ModelFormatException($"{file}: tensor '{name}' has no shape");
            var offsets = (node["data_offsets"] as JsonArray)?.Select(d => d!.GetValue<long>()).ToArray();
            if (offsets is not { Length: 2 } || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
            {
                throw new ModelFormatException($"{file}: tensor '{name}' has data offsets outside the file's {dataLength} data bytes");
            }
            var entry = new TensorEntry(name, type, shape, offsets[0], offsets[1] - offsets[0]);
            if (shape.Any(d => d < 0) || entry.Elements * TensorEntry.ElementSize(type) != entry.Length)
            {
                throw new ModelFormatException(
                    $"{file}: tensor '{name}' holds {entry.Length} bytes, but shape [{string.Join(", ", shape)}] of {dtype} needs {entry.Elements * TensorEntry.ElementSize(type)}");
            }
            tensors[name] = entry;
        }
        return tensors;
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        view.SafeMemoryMappedViewHandle.ReleasePointer();
        view.Dispose();
        mapping.Dispose();
    }
}

/// <summary>Writes safetensors files (the engine's own test and benchmark models).</summary>
public static class SafeTensorsWriter
{
    public sealed record Tensor(string Name, TensorType Type, long[] Shape, float[] Values);

    /// <summary>A tensor whose values are produced as they are written: <c>Fill</c> is called on consecutive chunks, in order, an even number of values each but the last.</summary>
    public sealed record StreamedTensor(string Name, TensorType Type, long[] Shape, Action<Span<float>> Fill)
    {
        public long Elements => Shape.Aggregate(1L, (a, b) => a * b);

        public long Bytes => Elements * TensorEntry.ElementSize(Type);
    }

    private const int ChunkElements = 1 << 20;

    public static void Write(string path, IReadOnlyList<Tensor> tensors) =>
        Write(path, tensors.Select(t => new StreamedTensor(t.Name, t.Type, t.Shape, Copy(t.Values))).ToList());

    private static Action<Span<float>> Copy(float[] values)
    {
        var position = 0;
        return chunk =>
        {
            values.AsSpan(position, chunk.Length).CopyTo(chunk);
            position += chunk.Length;
        };
    }

    /// <summary>
    /// Writes the tensors as Hugging Face does: one <c>model.safetensors</c>, or, past
    /// <paramref name="maxShardBytes"/>, shards <c>model-00001-of-0000N.safetensors</c> with
    /// <c>model.safetensors.index.json</c> mapping each tensor to its shard. Values stream through a
    /// bounded buffer, so a model larger than memory can be written.
    /// </summary>
    public static void WriteModel(string directory, IReadOnlyList<StreamedTensor> tensors, long maxShardBytes)
    {
        var shards = new List<List<StreamedTensor>> { new() };
        long size = 0;
        foreach (var tensor in tensors)
        {
            if (size > 0 && size + tensor.Bytes > maxShardBytes)
            {
                shards.Add([]);
                size = 0;
            }
            shards[^1].Add(tensor);
            size += tensor.Bytes;
        }
        if (shards.Count == 1)
        {
            Write(Path.Combine(directory, "model.safetensors"), tensors);
            return;
        }
        var map = new JsonObject();
        for (var i = 0; i < shards.Count; i++)
        {
            var name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Write(Path.Combine(directory, name), shards[i]);
            foreach (var tensor in shards[i])
            {
                map[tensor.Name] = name;
            }
        }
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(t => t.Bytes) },
            ["weight_map"] = map,
        };
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), index.ToJsonString(new() { WriteIndented = true }));
    }

    public static void Write(string path, IReadOnlyList<StreamedTensor> tensors)
    {
        var header = new JsonObject();
        long offset = 0;
        foreach (var tensor in tensors)
        {
            header[tensor.Name] = new JsonObject
            {
                ["dtype"] = tensor.Type.ToString(),
                ["shape"] = new JsonArray(tensor.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + tensor.Bytes),
            };
            offset += tensor.Bytes;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (headerBytes.Length + 7) / 8 * 8;
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(lengthBytes, padded);
        stream.Write(lengthBytes);
        stream.Write(headerBytes);
        for (var i = headerBytes.Length; i < padded; i++)
        {
            stream.WriteByte((byte)' ');
        }
        var values = new float[ChunkElements];
        var bytes = new byte[ChunkElements * 4];
        foreach (var tensor in tensors)
        {
            for (long done = 0; done < tensor.Elements; done += ChunkElements)
            {
                var count = (int)Math.Min(ChunkElements, tensor.Elements - done);
                tensor.Fill(values.AsSpan(0, count));
                stream.Write(bytes, 0, Encode(values.AsSpan(0, count), tensor.Type, bytes));
            }
        }
    }

    private static int Encode(ReadOnlySpan<float> values, TensorType type, byte[] bytes)
    {
        for (var i = 0; i < values.Length; i++)
        {
            var value = values[i];
            switch (type)
            {
                case TensorType.F32:
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), value);
                    break;
                case TensorType.F16:
                    BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)value);
                    break;
                default:
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), Numbers.ToBFloat16(value));
                    break;
            }
        }
        return values.Length * TensorEntry.ElementSize(type);
    }
}
