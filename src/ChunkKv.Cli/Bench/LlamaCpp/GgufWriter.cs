using System.Text;

namespace ChunkKv.Cli.Bench.LlamaCpp;

/// <summary>GGML tensor types a GGUF written here holds (their numbers in ggml's enum).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    BF16 = 30,
}

/// <summary>
/// A GGUF version 3 file, the format llama.cpp loads: a header of typed key-value pairs, then each
/// tensor's name, dimensions (innermost first: a Hugging Face [out, in] matrix is [in, out] here,
/// with the same bytes), type and offset, then the data, every tensor aligned to 32 bytes.
/// </summary>
public sealed class GgufWriter
{
    public const int Alignment = 32;

    private readonly List<(string Key, Action<BinaryWriter> Write)> _metadata = [];
    private readonly List<Tensor> _tensors = [];

    /// <param name="Fill">Writes the tensor's values, row after row, as floats (converted to <see cref="Type"/> on the way).</param>
    public sealed record Tensor(string Name, ulong[] Dimensions, GgmlType Type, Action<Action<ReadOnlySpan<float>>> Fill)
    {
        public long Elements => Dimensions.Aggregate(1L, (a, d) => a * (long)d);
        public long Bytes => Elements * (Type == GgmlType.F32 ? 4 : 2);
    }

    private enum ValueType : uint
    {
        UInt32 = 4,
        Int32 = 5,
        Float32 = 6,
        String = 8,
        Array = 9,
    }

    public void Add(string key, uint value) => _metadata.Add((key, w => { w.Write((uint)ValueType.UInt32); w.Write(value); }));

    public void Add(string key, float value) => _metadata.Add((key, w => { w.Write((uint)ValueType.Float32); w.Write(value); }));

    public void Add(string key, string value) => _metadata.Add((key, w => { w.Write((uint)ValueType.String); WriteString(w, value); }));

    public void Add(string key, IReadOnlyList<string> values) => _metadata.Add((key, w =>
    {
        w.Write((uint)ValueType.Array);
        w.Write((uint)ValueType.String);
        w.Write((ulong)values.Count);
        foreach (var value in values)
        {
            WriteString(w, value);
        }
    }));

    public void Add(string key, IReadOnlyList<int> values) => _metadata.Add((key, w =>
    {
        w.Write((uint)ValueType.Array);
        w.Write((uint)ValueType.Int32);
        w.Write((ulong)values.Count);
        foreach (var value in values)
        {
            w.Write(value);
        }
    }));

    public void Add(Tensor tensor) => _tensors.Add(tensor);

    /// <summary>Writes the file (to a temporary name, renamed when complete).</summary>
    public void Write(string path)
    {
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(0x46554747u); // "GGUF"
            writer.Write(3u);
            writer.Write((ulong)_tensors.Count);
            writer.Write((ulong)_metadata.Count);
            foreach (var (key, write) in _metadata)
            {
                WriteString(writer, key);
                write(writer);
            }
            long offset = 0;
            foreach (var tensor in _tensors)
            {
                WriteString(writer, tensor.Name);
                writer.Write((uint)tensor.Dimensions.Length);
                foreach (var dimension in tensor.Dimensions)
                {
                    writer.Write(dimension);
                }
                writer.Write((uint)tensor.Type);
                writer.Write((ulong)offset);
                offset = Align(offset + tensor.Bytes);
            }
            Pad(writer);
            var start = writer.BaseStream.Position;
            foreach (var tensor in _tensors)
            {
                var before = writer.BaseStream.Position - start;
                tensor.Fill(values => WriteValues(writer, tensor.Type, values));
                var written = writer.BaseStream.Position - start - before;
                if (written != tensor.Bytes)
                {
                    throw new InvalidOperationException($"tensor {tensor.Name}: {written} bytes written, {tensor.Bytes} declared");
                }
                Pad(writer);
            }
        }
        File.Move(temporary, path, overwrite: true);
    }

    private static void WriteValues(BinaryWriter writer, GgmlType type, ReadOnlySpan<float> values)
    {
        switch (type)
        {
            case GgmlType.F32:
                writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
                break;
            case GgmlType.F16:
                foreach (var value in values)
                {
                    writer.Write(BitConverter.HalfToUInt16Bits((Half)value));
                }
                break;
            default:
                foreach (var value in values)
                {
                    writer.Write(Inference.Models.Numbers.ToBFloat16(value));
                }
                break;
        }
    }

    private static long Align(long offset) => (offset + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter writer)
    {
        var position = writer.BaseStream.Position;
        for (var i = position; i < Align(position); i++)
        {
            writer.Write((byte)0);
        }
    }

    private static void WriteString(BinaryWriter writer, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        writer.Write((ulong)bytes.Length);
        writer.Write(bytes);
    }
}
