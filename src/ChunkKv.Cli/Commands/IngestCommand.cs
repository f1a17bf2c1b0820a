using System.Globalization;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv ingest PATH... --collection C [--server URL]</c>: sends each file (<c>.md</c> as Markdown, the rest as
/// text) to a running server, which chunks, indexes and caches it; a line per file as it is done.
/// </summary>
public sealed class IngestCommand : ICommand
{
    public string Name => "ingest";
    public string Summary => "ingest files into --collection of a running server (--server URL)";

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var collection = arguments.Required("collection");
        var files = arguments.Positional.SelectMany(Expand).ToList();
        if (files.Count == 0)
        {
            throw new UsageException("name the files (or folders) to ingest");
        }
        using var client = ServerClient.Create(arguments);
        await ServerClient.PostJsonAsync(client, "/v1/collections", new { name = collection }, cancellationToken);
        for (var i = 0; i < files.Count; i++)
        {
            var file = files[i];
            var id = new string(Path.GetFileNameWithoutExtension(file).Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray());
            var format = Path.GetExtension(file).Equals(".md", StringComparison.OrdinalIgnoreCase) ? "markdown" : "text";
            var result = await ServerClient.PostJsonAsync(client, $"/v1/collections/{Uri.EscapeDataString(collection)}/documents",
                new { id, text = await File.ReadAllTextAsync(file, cancellationToken), format }, cancellationToken);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{i + 1}/{files.Count}] {file}: {result.GetProperty("outcome").GetString()}, {result.GetProperty("chunks").GetInt32()} chunks, {result.GetProperty("caches_computed").GetInt32()} caches computed, {result.GetProperty("seconds").GetDouble():F2} s"));
        }
        return CliApp.Ok;
    }

    private static IEnumerable<string> Expand(string path) =>
        Directory.Exists(path) ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Where(f => f.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".md", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal)
        : File.Exists(path) ? [path]
        : throw new CommandFailedException($"'{path}' is neither a file nor a folder");
}
