using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Cli.Tests;

/// <summary><c>chunkkv index repair</c> on a data directory whose journal was damaged: it says which documents to ingest again.</summary>
public sealed class IndexRepairTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-repair-{Guid.NewGuid():N}");

    [Fact]
    public async Task Repair_names_the_document_to_ingest_again_and_the_index_opens()
    {
        var folder = Path.Combine(_data, "index");
        using (var index = EmbeddedChunkIndex.Open(folder))
        {
            await index.EnsureCollectionAsync("notes", "e", 2);
            await index.BeginDocumentAsync("notes", "report", [1], []);
            await index.AddChunksAsync("notes", "report", [new IndexedChunk(0, 0, 5, "hello", 1, new byte[32], [1, 0])]);
            await index.MarkReadyAsync("notes", "report", 1);
        }
        var journal = Path.Combine(folder, "index.journal");
        var lines = File.ReadAllLines(journal);
        lines[2] = lines[2].Replace("hello", "hellO", StringComparison.Ordinal);
        File.WriteAllLines(journal, lines);

        var (code, output, error) = await Cli.RunAsync("index", "repair", "--data", _data);

        Assert.True(code == CliApp.Ok, error);
        Assert.Contains("ingest again: report in notes", output, StringComparison.Ordinal);
        using var repaired = EmbeddedChunkIndex.Open(folder);
        Assert.Equal(DocumentStatus.Ingesting, (await repaired.GetDocumentAsync("notes", "report"))!.Status);

        var (missing, _, missingError) = await Cli.RunAsync("index", "repair", "--data", Path.Combine(_data, "nothing"));
        Assert.Equal(CliApp.Failed, missing);
        Assert.Contains("no embedded index journal", missingError, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
