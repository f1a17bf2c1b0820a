using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ChunkKv.Retrieval.Indexing;

/// <summary>What <see cref="JournalRepair.Run"/> did: the documents set back to be ingested again, and the damaged lines it could not tie to one.</summary>
/// <param name="DamagedLines">Records that failed their checksum (or no longer applied), dropped.</param>
/// <param name="Documents">(collection, document) set back to "ingesting": their next ingest resumes and completes them.</param>
/// <param name="LostCollections">Collections whose own record was damaged: their documents could not be kept.</param>
/// <param name="Unattributed">Damaged lines too broken to name a document.</param>
public sealed record JournalRepairReport(int KeptRecords, int DamagedLines, IReadOnlyList<(string Collection, string Document)> Documents,
    IReadOnlyList<string> LostCollections, int Unattributed);

/// <summary>
/// The way out of a damaged embedded-index journal (which the index refuses to open): every intact
/// record is replayed and kept; each damaged one is dropped, and the document it belonged to (read
/// from what is left of its JSON) is set back to "ingesting", so it is not searchable half-complete
/// and its next ingest resumes it (chunks already there are kept, missing ones added). The journal
/// is then rewritten from what was kept, the damaged file kept beside it.
/// </summary>
public static class JournalRepair
{
    public static JournalRepairReport Run(string folder)
    {
        var path = Path.Combine(folder, IndexJournal.FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no embedded index journal at {path}", path);
        }
        var state = new EmbeddedState();
        var damaged = new HashSet<(string, string)>();
        var lostCollections = new HashSet<string>(StringComparer.Ordinal);
        int kept = 0, dropped = 0, unattributed = 0;
        foreach (var (record, raw) in IndexJournal.ReadAll(File.ReadAllBytes(path)))
        {
            if (record is not null)
            {
                try
                {
                    state.Apply(record);
                    kept++;
                    continue;
                }
                catch (Exception e) when (e is KeyNotFoundException or InvalidDataException or NullReferenceException or FormatException)
                {
                    // Intact, but it builds on a record that was damaged (its collection or its begin).
                }
            }
            dropped++;
            switch (Owner(record ?? ParseLoosely(raw)))
            {
                case ({ } collection, { } document):
                    damaged.Add((collection, document));
                    break;
                case ({ } collection, null):
                    lostCollections.Add(collection);
                    break;
                default:
                    unattributed++;
                    break;
            }
        }
        var reset = new List<(string, string)>();
        foreach (var (collection, document) in damaged.OrderBy(d => d.Item1, StringComparer.Ordinal).ThenBy(d => d.Item2, StringComparer.Ordinal))
        {
            if (state.Collections.TryGetValue(collection, out var owner) && owner.Documents.TryGetValue(document, out var entry))
            {
                entry.Ready = false;
                reset.Add((collection, document));
            }
        }
        File.Copy(path, path + $".damaged-{DateTime.UtcNow:yyyyMMddHHmmss}", overwrite: false);
        using (var journal = IndexJournal.Open(folder, _ => { }, ignoreDamage: true))
        {
            journal.Rewrite(state.Snapshot());
        }
        return new JournalRepairReport(kept, dropped, reset, [.. lostCollections.Order(StringComparer.Ordinal)], unattributed);
    }

    /// <summary>The collection and document a record belongs to (a collection's own record: no document).</summary>
    private static (string? Collection, string? Document) Owner(JsonObject? record)
    {
        if (record is null)
        {
            return (null, null);
        }
        string? Text(string name) => record[name] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
        return Text("op") is "collection" or "drop" ? (Text("name"), null) : (Text("c"), Text("doc"));
    }

    /// <summary>What is left of a damaged line's JSON, when it still parses (a flipped byte in a value, say).</summary>
    private static JsonObject? ParseLoosely(ReadOnlyMemory<byte> line)
    {
        var text = Encoding.UTF8.GetString(line.Span);
        var brace = text.IndexOf('{', StringComparison.Ordinal);
        try
        {
            return brace < 0 ? null : JsonNode.Parse(text[brace..]) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
