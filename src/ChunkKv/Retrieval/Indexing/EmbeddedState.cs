using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace ChunkKv.Retrieval.Indexing;

/// <summary>The embedded index's in-memory state, changed only by applying journal records (live or replayed).</summary>
internal sealed class EmbeddedState
{
    public Dictionary<string, CollectionState> Collections { get; } = new(StringComparer.Ordinal);

    /// <summary>How many chunks in the whole index carry each cache key (deleting the last one orphans the cache).</summary>
    public Dictionary<string, int> CacheKeyUses { get; } = new(StringComparer.Ordinal);

    /// <summary>Chunks in the index now.</summary>
    public int LiveChunks { get; private set; }

    /// <summary>Chunks written to the journal since it was last rewritten, deleted ones included.</summary>
    public int JournalChunks { get; set; }

    private long _nextChunk;

    public void Apply(JsonObject record)
    {
        var op = record["op"]!.GetValue<string>();
        if (op == "collection")
        {
            var name = record["name"]!.GetValue<string>();
            // Journals written before collections had settings have none.
            Collections[name] = new CollectionState(new CollectionInfo(name, record["embedder"]!.GetValue<string>(), record["dim"]!.GetValue<int>(),
                CollectionSettings.FromJson(record["settings"]?.GetValue<string>())));
            return;
        }
        if (op == "drop")
        {
            if (Collections.Remove(record["name"]!.GetValue<string>(), out var dropped))
            {
                foreach (var document in dropped.Documents.Values)
                {
                    Forget(dropped, document);
                }
            }
            return;
        }
        var collection = Collections[record["c"]!.GetValue<string>()];
        var id = record["doc"]!.GetValue<string>();
        switch (op)
        {
            case "begin":
                collection.Documents[id] = new DocumentState(Convert.FromBase64String(record["hash"]!.GetValue<string>()),
                    record["meta"]!.AsObject().DeepClone().AsObject());
                break;
            case "chunks":
                var document = collection.Documents[id];
                foreach (var item in record["chunks"]!.AsArray())
                {
                    var chunk = ChunkFrom(item!.AsObject());
                    if (document.Chunks.TryAdd(chunk.Ordinal, new ChunkEntry(_nextChunk++, chunk, new ChunkTerms(chunk.Content))))
                    {
                        collection.Text.Add(document.Chunks[chunk.Ordinal].Terms);
                        LiveChunks++;
                        JournalChunks++;
                        var key = Convert.ToBase64String(chunk.CacheKey);
                        CacheKeyUses[key] = CacheKeyUses.GetValueOrDefault(key) + 1;
                    }
                }
                break;
            case "ready":
                collection.Documents[id].Ready = true;
                break;
            case "delete":
                if (collection.Documents.Remove(id, out var gone))
                {
                    Forget(collection, gone);
                }
                break;
            default:
                throw new InvalidDataException($"unknown journal record '{op}'");
        }
    }

    /// <summary>Takes a removed document's chunks out of the text statistics and the cache key counts.</summary>
    private void Forget(CollectionState collection, DocumentState document)
    {
        foreach (var entry in document.Chunks.Values)
        {
            collection.Text.Remove(entry.Terms);
            LiveChunks--;
            var key = Convert.ToBase64String(entry.Chunk.CacheKey);
            var uses = CacheKeyUses[key] - 1;
            if (uses == 0)
            {
                CacheKeyUses.Remove(key);
            }
            else
            {
                CacheKeyUses[key] = uses;
            }
        }
    }

    /// <summary>Records that rebuild this state from nothing (for compaction).</summary>
    public IEnumerable<JsonObject> Snapshot()
    {
        foreach (var collection in Collections.Values)
        {
            var info = collection.Info;
            yield return Record.Collection(info);
            foreach (var (id, document) in collection.Documents)
            {
                yield return Record.Begin(info.Name, id, document.ContentHash, document.Metadata);
                foreach (var batch in document.Chunks.Values.Select(e => e.Chunk).Chunk(256))
                {
                    yield return Record.Chunks(info.Name, id, batch);
                }
                if (document.Ready)
                {
                    yield return Record.Ready(info.Name, id, document.Chunks.Count);
                }
            }
        }
    }

    private static IndexedChunk ChunkFrom(JsonObject item) => new(
        item["o"]!.GetValue<int>(), item["s"]!.GetValue<int>(), item["e"]!.GetValue<int>(), item["text"]!.GetValue<string>(),
        item["t"]!.GetValue<int>(), Convert.FromBase64String(item["key"]!.GetValue<string>()),
        MemoryMarshal.Cast<byte, float>(Convert.FromBase64String(item["vec"]!.GetValue<string>())).ToArray());
}

internal sealed class CollectionState(CollectionInfo info)
{
    public CollectionInfo Info { get; } = info;
    public Dictionary<string, DocumentState> Documents { get; } = new(StringComparer.Ordinal);
    public TermStatistics Text { get; } = new();
}

internal sealed class DocumentState(byte[] contentHash, JsonObject metadata)
{
    public byte[] ContentHash { get; } = contentHash;
    public JsonObject Metadata { get; } = metadata;
    public bool Ready { get; set; }
    public SortedDictionary<int, ChunkEntry> Chunks { get; } = [];

    public bool Matches(JsonObject? filter) =>
        filter is null || filter.All(f => Metadata.TryGetPropertyValue(f.Key, out var value) && JsonNode.DeepEquals(value, f.Value));
}

/// <param name="Sequence">Insertion order over the whole index: breaks ties the same way on every run.</param>
internal sealed record ChunkEntry(long Sequence, IndexedChunk Chunk, ChunkTerms Terms);

/// <summary>Journal records, written by the index and replayed by <see cref="EmbeddedState.Apply"/>.</summary>
internal static class Record
{
    public static JsonObject Collection(CollectionInfo info) =>
        new() { ["op"] = "collection", ["name"] = info.Name, ["embedder"] = info.Embedder, ["dim"] = info.Dimension, ["settings"] = info.Settings.ToJson() };

    public static JsonObject Begin(string collection, string id, byte[] hash, JsonObject metadata) =>
        new() { ["op"] = "begin", ["c"] = collection, ["doc"] = id, ["hash"] = Convert.ToBase64String(hash), ["meta"] = metadata.DeepClone() };

    public static JsonObject Chunks(string collection, string id, IEnumerable<IndexedChunk> chunks) => new()
    {
        ["op"] = "chunks", ["c"] = collection, ["doc"] = id,
        ["chunks"] = new JsonArray(chunks.Select(c => (JsonNode)new JsonObject
        {
            ["o"] = c.Ordinal, ["s"] = c.CharStart, ["e"] = c.CharEnd, ["text"] = c.Content, ["t"] = c.TokenCount,
            ["key"] = Convert.ToBase64String(c.CacheKey), ["vec"] = Convert.ToBase64String(MemoryMarshal.AsBytes(c.Embedding.AsSpan())),
        }).ToArray()),
    };

    public static JsonObject Ready(string collection, string id, int count) =>
        new() { ["op"] = "ready", ["c"] = collection, ["doc"] = id, ["n"] = count };

    public static JsonObject Delete(string collection, string id) => new() { ["op"] = "delete", ["c"] = collection, ["doc"] = id };

    public static JsonObject Drop(string collection) => new() { ["op"] = "drop", ["name"] = collection };
}
