using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Cli.Commands;

/// <summary><c>chunkkv index repair --data DIR</c>: the way out of a damaged embedded index.</summary>
public sealed class IndexCommand : ICommand
{
    public string Name => "index";
    public string Summary => "the embedded index: 'index repair' keeps every intact record of a damaged journal and names the documents to ingest again";

    public IReadOnlyList<CliOption> Options { get; } = [];

    public IReadOnlyList<ICommand> Subcommands { get; } = [new Repair()];

    public Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken) =>
        throw new UsageException("name what to do: repair");

    /// <summary>
    /// <c>index repair --data DIR</c> (the server's data directory; its index is DIR/index): replays the
    /// intact records, sets the documents of damaged ones back to ingesting, rewrites the journal
    /// (the damaged file is kept beside it) and prints what it did. Run it with the server stopped.
    /// </summary>
    private sealed class Repair : ICommand
    {
        public string Name => "repair";
        public string Summary => "repair a damaged embedded-index journal: keep the intact records, list the documents to ingest again";

        public IReadOnlyList<CliOption> Options { get; } =
            [CliOption.RequiredValue("data", "DIR", "the server's data directory (the index is DIR/index); stop the server first")];

        public Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
        {
            var folder = Path.Combine(arguments.Required("data"), "index");
            JournalRepairReport report;
            try
            {
                report = JournalRepair.Run(folder);
            }
            catch (FileNotFoundException e)
            {
                throw new CommandFailedException(e.Message, e);
            }
            output.WriteLine($"kept {report.KeptRecords} records, dropped {report.DamagedLines} damaged ones");
            foreach (var (collection, document) in report.Documents)
            {
                output.WriteLine($"ingest again: {document} in {collection}");
            }
            foreach (var collection in report.LostCollections)
            {
                output.WriteLine($"lost: collection {collection} (its own record was damaged): create it and ingest its documents again");
            }
            if (report.Unattributed > 0)
            {
                output.WriteLine($"{report.Unattributed} damaged records named no document");
            }
            return Task.FromResult(CliApp.Ok);
        }
    }
}
