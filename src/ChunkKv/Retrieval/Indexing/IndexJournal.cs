using System.Text;
using System.Text.Json.Nodes;
using ChunkKv.Caching.Format;

namespace ChunkKv.Retrieval.Indexing;

/// <summary>
/// The embedded index's file: one JSON record per line, each prefixed with its CRC32C, appended
/// and flushed to disk before the change is applied in memory. Replaying the records rebuilds
/// the index. A torn last line (a crash mid-append) is cut off; a bad record anywhere else means
/// the file was damaged and opening fails rather than silently dropping what follows.
/// Compaction writes the live state to a temporary file and renames it over the journal.
/// </summary>
internal sealed class IndexJournal : IDisposable
{
    public const string FileName = "index.journal";

    private readonly string _path;
    private FileStream _stream;

    private IndexJournal(string path, FileStream stream)
    {
        _path = path;
        _stream = stream;
    }

    /// <summary>Opens (or creates) the journal in <paramref name="folder"/> and hands every intact record to <paramref name="replay"/>.</summary>
    /// <param name="ignoreDamage">Replay nothing and check nothing: for <see cref="JournalRepair"/>, which rewrites the file at once.</param>
    public static IndexJournal Open(string folder, Action<JsonObject> replay, Action<string>? warn = null, bool ignoreDamage = false)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, FileName);
        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        if (ignoreDamage)
        {
            return new IndexJournal(path, stream);
        }
        var validLength = Replay(stream, path, replay);
        if (validLength < stream.Length)
        {
            warn?.Invoke($"{path}: cut a torn last record ({stream.Length - validLength} bytes) left by an interrupted write");
            stream.SetLength(validLength);
        }
        stream.Seek(0, SeekOrigin.End);
        return new IndexJournal(path, stream);
    }

    /// <summary>Appends records durably (flushed through to the disk) in one write.</summary>
    public void Append(IEnumerable<JsonObject> records)
    {
        var bytes = Encode(records);
        _stream.Write(bytes);
        _stream.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Replaces the journal with <paramref name="records"/> (the live state) atomically. The new
    /// file is opened before it is renamed over the old one (the handle follows the file), so a
    /// failure at any step leaves the old journal in place and still open for appends.
    /// </summary>
    public void Rewrite(IEnumerable<JsonObject> records)
    {
        var temporary = _path + ".compacting";
        FileStream? replacement = null;
        try
        {
            replacement = new FileStream(temporary, FileMode.Create, FileAccess.ReadWrite, FileShare.Read);
            replacement.Write(Encode(records));
            replacement.Flush(flushToDisk: true);
            MoveFile(temporary, _path);
        }
        catch
        {
            replacement?.Dispose();
            File.Delete(temporary);
            throw;
        }
        var old = _stream;
        _stream = replacement;
        old.Dispose();
    }

    /// <summary>The rename of a compaction; tests replace it to make it fail.</summary>
    internal Action<string, string> MoveFile { get; set; } = (from, to) => File.Move(from, to, overwrite: true);

    public long Length => _stream.Length;

    public void Dispose() => _stream.Dispose();

    private static byte[] Encode(IEnumerable<JsonObject> records)
    {
        var text = new StringBuilder();
        foreach (var record in records)
        {
            var json = record.ToJsonString();
            text.Append(Crc32C.Compute(Encoding.UTF8.GetBytes(json)).ToString("x8", System.Globalization.CultureInfo.InvariantCulture))
                .Append(' ').Append(json).Append('\n');
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>Replays intact records; returns the length of the intact prefix.</summary>
    private static long Replay(FileStream stream, string path, Action<JsonObject> replay)
    {
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        long offset = 0;
        var line = 0;
        while (offset < bytes.Length)
        {
            line++;
            var newline = Array.IndexOf(bytes, (byte)'\n', (int)offset);
            var record = newline < 0 ? null : Decode(bytes.AsSpan((int)offset, newline - (int)offset));
            if (record is null)
            {
                if (newline < 0 || newline == bytes.Length - 1)
                {
                    return offset; // the last line: torn by a crash
                }
                throw new InvalidDataException(
                    $"{path} is damaged at line {line}: the record fails its checksum (chunkkv index repair keeps the intact records and names the documents to ingest again)");
            }
            replay(record);
            offset = newline + 1;
        }
        return offset;
    }

    /// <summary>Every line of a journal: its record when intact (else null), and its raw bytes.</summary>
    internal static IEnumerable<(JsonObject? Record, ReadOnlyMemory<byte> Raw)> ReadAll(byte[] bytes)
    {
        var offset = 0;
        while (offset < bytes.Length)
        {
            var newline = Array.IndexOf(bytes, (byte)'\n', offset);
            var end = newline < 0 ? bytes.Length : newline;
            var raw = bytes.AsMemory(offset, end - offset);
            JsonObject? record;
            try
            {
                record = Decode(raw.Span);
            }
            catch (System.Text.Json.JsonException)
            {
                record = null;
            }
            yield return (record, raw);
            offset = end + 1;
        }
    }

    private static JsonObject? Decode(ReadOnlySpan<byte> line)
    {
        if (line.Length < 10 || line[8] != (byte)' ')
        {
            return null;
        }
        var json = line[9..];
        if (!uint.TryParse(Encoding.ASCII.GetString(line[..8]), System.Globalization.NumberStyles.HexNumber, null, out var crc)
            || crc != Crc32C.Compute(json))
        {
            return null;
        }
        return JsonNode.Parse(json) as JsonObject;
    }
}
