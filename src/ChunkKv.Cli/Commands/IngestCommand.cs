using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv ingest PATH... --collection C [--server URL]</c>: sends each file (<c>.md</c> as Markdown, the rest as
/// text) to a running server as a background job and follows it: a progress bar per file on standard
/// error (chunks indexed, then caches computed), and a line per file on standard output when it is done.
/// </summary>
public sealed class IngestCommand : ICommand
{
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(250);

    public string Name => "ingest";
    public string Summary => "ingest files into --collection of a running server (--server URL)";

    public IReadOnlyList<CliOption> Options { get; } = [CommonOptions.Collection, CommonOptions.Server];

    public CliArgument Arguments { get; } = new("paths", "files, or folders of .txt and .md files", Many: true);

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var collection = arguments.Required("collection");
        var files = arguments.Positional.SelectMany(Expand).ToList();
        if (files.Count == 0)
        {
            throw new UsageException("no .txt or .md files in the paths given");
        }
        using var client = ServerClient.Create(arguments);
        await ServerClient.PostJsonAsync(client, "/v1/collections", new { name = collection }, cancellationToken);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        var lines = new List<string>();
        await console.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var tasks = files.Select(f => progress.AddTask(Markup.Escape(Path.GetFileName(f)), autoStart: false)).ToList();
                for (var i = 0; i < files.Count; i++)
                {
                    var result = await IngestAsync(client, collection, files[i], tasks[i], cancellationToken);
                    lines.Add(string.Create(CultureInfo.InvariantCulture,
                        $"[{i + 1}/{files.Count}] {files[i]}: {result.GetProperty("outcome").GetString()}, {result.GetProperty("chunks").GetInt32()} chunks, {result.GetProperty("caches_computed").GetInt32()} caches computed, {result.GetProperty("seconds").GetDouble():F2} s"));
                }
            });
        foreach (var line in lines)
        {
            output.WriteLine(line);
        }
        return CliApp.Ok;
    }

    /// <summary>Submits one file as a job and follows it to its end; the job's result, or why it failed.</summary>
    private static async Task<JsonElement> IngestAsync(HttpClient client, string collection, string file, ProgressTask task,
        CancellationToken cancellationToken)
    {
        var id = new string(Path.GetFileNameWithoutExtension(file).Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray());
        var format = Path.GetExtension(file).Equals(".md", StringComparison.OrdinalIgnoreCase) ? "markdown" : "text";
        var job = await ServerClient.PostJsonAsync(client, $"/v1/collections/{Uri.EscapeDataString(collection)}/documents?background=true",
            new { id, text = await File.ReadAllTextAsync(file, cancellationToken), format }, cancellationToken);
        task.StartTask();
        var stages = 2; // indexing, then caching: each half of the bar
        while (job.GetProperty("state").GetString() is "queued" or "running")
        {
            var total = Math.Max(1, job.GetProperty("total").GetInt32());
            var stage = job.GetProperty("stage").GetString() == "caching" ? 1 : 0;
            task.MaxValue = stages;
            task.Value = stage + (double)job.GetProperty("done").GetInt32() / total;
            await Task.Delay(PollEvery, cancellationToken);
            job = await ServerClient.GetJsonAsync(client, $"/v1/jobs/{job.GetProperty("id").GetString()}", cancellationToken);
        }
        if (job.GetProperty("state").GetString() != "succeeded")
        {
            task.StopTask();
            var error = job.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? $": {e.GetString()}" : "";
            throw new CommandFailedException($"{file}: ingestion {job.GetProperty("state").GetString()}{error}");
        }
        task.Value = task.MaxValue;
        task.StopTask();
        return job.GetProperty("result");
    }

    private static IEnumerable<string> Expand(string path) =>
        Directory.Exists(path) ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Where(f => f.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".md", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal)
        : File.Exists(path) ? [path]
        : throw new CommandFailedException($"'{path}' is neither a file nor a folder");
}
