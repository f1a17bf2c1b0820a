using System.Text;
using ChunkKv.Inference.Tests;
using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Tests.Retrieval.Indexing;

/// <summary>The index contract on the embedded provider, plus what its journal must survive.</summary>
public sealed class EmbeddedChunkIndexTests : ChunkIndexContract
{
    private readonly string _folder = Fixtures.TempDirectory("embedded-index");

    protected override Task<IChunkIndex> CreateAsync() => Task.FromResult<IChunkIndex>(EmbeddedChunkIndex.Open(_folder));

    public override Task DisposeAsync()
    {
        ((EmbeddedChunkIndex)Index).Dispose();
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    private string JournalPath => Path.Combine(_folder, IndexJournal.FileName);

    [Fact]
    public async Task Everything_written_is_there_after_reopening()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await AddReadyAsync("a", [Unit(0), Unit(1)], new() { ["lang"] = "en" });
        await Index.BeginDocumentAsync("docs", "half", [3], []);
        await Index.AddChunksAsync("docs", "half", [Chunk(0, Unit(2))]);
        var before = await Index.SearchAsync("docs", new SearchRequest(Unit(1), Limit: 10));
        ((EmbeddedChunkIndex)Index).Dispose();

        using var reopened = EmbeddedChunkIndex.Open(_folder);

        var after = await reopened.SearchAsync("docs", new SearchRequest(Unit(1), Limit: 10));
        Assert.Equal(before.Select(h => (h.DocumentId, h.Ordinal, h.Score)), after.Select(h => (h.DocumentId, h.Ordinal, h.Score)));
        Assert.Equal("en", after[0].Metadata["lang"]!.GetValue<string>());
        Assert.Equal(DocumentStatus.Ingesting, (await reopened.GetDocumentAsync("docs", "half"))!.Status);
        Assert.Equal(new HashSet<int> { 0 }, await reopened.IndexedOrdinalsAsync("docs", "half"));
        await reopened.EnsureCollectionAsync("again", "e", Dimension); // keeps working after the reopen
    }

    [Fact]
    public async Task Collection_settings_survive_reopening()
    {
        var settings = new CollectionSettings("Notes:\n", 32);
        await Index.EnsureCollectionAsync("tuned", "e", Dimension, settings);
        ((EmbeddedChunkIndex)Index).Dispose();

        using var reopened = EmbeddedChunkIndex.Open(_folder);

        Assert.Equal(settings, (await reopened.GetCollectionAsync("tuned"))!.Settings);
    }

    [Fact]
    public async Task A_deleted_collection_stays_deleted_after_reopening()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await Index.EnsureCollectionAsync("kept", "e", Dimension);
        await AddReadyAsync("a", [Unit(0)]);
        await AddReadyAsync("b", [Unit(1)], keys: [Key(7)], collection: "kept");
        await Index.DeleteCollectionAsync("docs");
        ((EmbeddedChunkIndex)Index).Dispose();

        using var reopened = EmbeddedChunkIndex.Open(_folder);

        Assert.Equal(["kept"], (await reopened.ListCollectionsAsync()).Select(c => c.Name));
        Assert.False(await reopened.IsCacheKeyReferencedAsync(Key(0)));
        Assert.True(await reopened.IsCacheKeyReferencedAsync(Key(7)));
        Assert.Single(await reopened.ListDocumentsAsync("kept", null, 10));
    }

    [Fact]
    public async Task A_torn_last_record_is_cut_off_and_the_rest_survives()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await AddReadyAsync("a", [Unit(0)]);
        ((EmbeddedChunkIndex)Index).Dispose();
        var intact = new FileInfo(JournalPath).Length;
        await File.AppendAllTextAsync(JournalPath, "1234abcd {\"op\":\"delete\",\"c\":\"docs\",\"d"); // a crash mid-append

        using var reopened = EmbeddedChunkIndex.Open(_folder);

        Assert.Single(await reopened.SearchAsync("docs", new SearchRequest(Unit(0))));
        Assert.Equal(intact, new FileInfo(JournalPath).Length);
    }

    [Fact]
    public async Task A_damaged_record_in_the_middle_stops_the_open_with_the_line_number()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await AddReadyAsync("a", [Unit(0)]);
        await AddReadyAsync("b", [Unit(1)]);
        ((EmbeddedChunkIndex)Index).Dispose();
        var lines = File.ReadAllLines(JournalPath);
        lines[2] = lines[2].Replace("chunk 0", "chunk 9", StringComparison.Ordinal);
        File.WriteAllText(JournalPath, string.Join('\n', lines) + "\n", new UTF8Encoding(false));

        var error = Assert.Throws<InvalidDataException>(() => EmbeddedChunkIndex.Open(_folder));

        Assert.True(error.Message.Contains("line 3", StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public async Task Repair_keeps_every_intact_record_and_sets_the_damaged_documents_back_to_ingest()
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        await AddReadyAsync("a", [Unit(0)]);
        await AddReadyAsync("b", [Unit(1)]);
        ((EmbeddedChunkIndex)Index).Dispose();
        var lines = File.ReadAllLines(JournalPath).ToList();
        var bChunks = lines.FindIndex(l => l.Contains("\"op\":\"chunks\"", StringComparison.Ordinal) && l.Contains("\"doc\":\"b\"", StringComparison.Ordinal));
        lines[bChunks] = lines[bChunks].Replace("chunk 0", "chunk 7", StringComparison.Ordinal); // its checksum fails, its JSON still names b
        lines.Insert(1, "0000 not a record at all");
        File.WriteAllText(JournalPath, string.Join('\n', lines) + "\n", new UTF8Encoding(false));
        Assert.Throws<InvalidDataException>(() => EmbeddedChunkIndex.Open(_folder));

        var report = JournalRepair.Run(_folder);

        Assert.Equal([("docs", "b")], report.Documents);
        Assert.Equal((2, 1), (report.DamagedLines, report.Unattributed));
        Assert.Single(Directory.GetFiles(_folder, IndexJournal.FileName + ".damaged-*"));
        using var repaired = EmbeddedChunkIndex.Open(_folder);
        Assert.Equal(DocumentStatus.Ready, (await repaired.GetDocumentAsync("docs", "a"))!.Status);
        Assert.Equal(DocumentStatus.Ingesting, (await repaired.GetDocumentAsync("docs", "b"))!.Status);
        Assert.Empty(await repaired.IndexedOrdinalsAsync("docs", "b")); // its chunks' record was the damaged one
        Assert.Equal(["a"], (await repaired.SearchAsync("docs", new SearchRequest(Unit(1), Limit: 10))).Select(h => h.DocumentId));
    }

    [Fact]
    public async Task A_compaction_whose_rename_fails_leaves_the_old_journal_working_and_complete()
    {
        var index = await FillWithDocumentsAsync(seed: 4);
        var renames = 0;
        index.Journal.MoveFile = (_, _) =>
        {
            renames++;
            throw new IOException("rename failed: device busy");
        };

        for (var d = 0; d < 48; d++)
        {
            Assert.True((await Index.DeleteDocumentAsync("docs", $"doc{d}")).Found); // each delete succeeds
        }
        await AddReadyAsync("late", [Unit(3)]); // appends still reach the old journal

        Assert.True(renames > 0, "no compaction was tried");
        Assert.Empty(Directory.GetFiles(_folder, "*.compacting"));
        Assert.Equal(201, (await Index.SearchAsync("docs", new SearchRequest(Unit(0), Limit: 1000))).Count);
        index.Dispose();
        using var reopened = EmbeddedChunkIndex.Open(_folder);
        Assert.Equal(201, (await reopened.SearchAsync("docs", new SearchRequest(Unit(0), Limit: 1000))).Count);
        Assert.Null(await reopened.GetDocumentAsync("docs", "doc0"));
        Assert.NotNull(await reopened.GetDocumentAsync("docs", "late"));
    }

    [Fact]
    public async Task Deleting_most_of_a_large_journal_compacts_it_and_keeps_the_live_documents()
    {
        var index = await FillWithDocumentsAsync(seed: 3);
        var full = index.JournalBytes;
        Assert.True(full > 1 << 20);

        for (var d = 0; d < 48; d++)
        {
            await Index.DeleteDocumentAsync("docs", $"doc{d}");
        }

        // Rewritten once the deleted chunks outnumbered the live ones (26 of 50 documents gone); below
        // 1 MiB it is not worth rewriting again.
        Assert.True(index.JournalBytes < full * 6 / 10, $"{index.JournalBytes} bytes left of {full}");
        var live = await Index.SearchAsync("docs", new SearchRequest(Unit(0), Limit: 1000));
        Assert.Equal(200, live.Count);
        index.Dispose();
        using var reopened = EmbeddedChunkIndex.Open(_folder);
        Assert.Equal(200, (await reopened.SearchAsync("docs", new SearchRequest(Unit(0), Limit: 1000))).Count);
    }

    /// <summary>50 ready documents of 100 random chunks each: a journal over the 1 MiB below which compaction is not worth it.</summary>
    private async Task<EmbeddedChunkIndex> FillWithDocumentsAsync(int seed)
    {
        await Index.EnsureCollectionAsync("docs", "e", Dimension);
        var random = new Random(seed);
        for (var d = 0; d < 50; d++)
        {
            await AddReadyAsync($"doc{d}", Enumerable.Range(0, 100).Select(_ => RandomUnit(random)).ToArray());
        }
        return (EmbeddedChunkIndex)Index;
    }
}
