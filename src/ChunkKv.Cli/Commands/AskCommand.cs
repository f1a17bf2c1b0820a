using System.Globalization;
using System.Text.Json;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv ask "question" --collection C [--method M] [--compare full,reuse] [--top-k K] [--server URL] [--json]</c>:
/// the answer from a running server, then its timing breakdown and, when comparing, each method's answer and TTFT.
/// </summary>
public sealed class AskCommand : ICommand
{
    public string Name => "ask";
    public string Summary => "ask a running server a question about --collection (answer plus timing table)";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CommonOptions.Collection,
        CliOption.Value("method", "METHOD", "the fusion method (default: the server's)"),
        CliOption.Value("compare", "METHODS", "comma-separated methods to run on the same prompt too, e.g. full"),
        CliOption.Value("top-k", "K", "chunks to retrieve"),
        CliOption.Value("max-tokens", "N", "answer tokens at most"),
        CommonOptions.Server,
        CommonOptions.Json,
    ];

    public CliArgument Arguments { get; } = new("question", "the question, in quotes");

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var question = arguments.Positional.Count == 1 ? arguments.Positional[0] : throw new UsageException("give the question as one argument, in quotes");
        var body = new Dictionary<string, object?>
        {
            ["collection"] = arguments.Required("collection"),
            ["question"] = question,
            ["method"] = arguments.Optional("method"),
            ["top_k"] = arguments.Optional("top-k") is null ? null : arguments.PositiveInteger("top-k", 5),
            ["max_tokens"] = arguments.Optional("max-tokens") is null ? null : arguments.PositiveInteger("max-tokens", 64),
            ["compare"] = arguments.Optional("compare")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        };
        using var client = ServerClient.Create(arguments);
        var result = await ServerClient.PostJsonAsync(client, "/v1/query", body.Where(p => p.Value is not null).ToDictionary(), cancellationToken);
        if (arguments.Flag("json"))
        {
            output.WriteLine(result.GetRawText());
            return CliApp.Ok;
        }
        output.WriteLine(result.GetProperty("answer").GetString()?.Trim());
        output.WriteLine();
        var timings = result.GetProperty("timings");
        string Ms(string name) => (timings.GetProperty(name).GetDouble() * 1000).ToString("F1", CultureInfo.InvariantCulture) + " ms";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"method {result.GetProperty("method").GetString()}: TTFT {Ms("ttft")} (embed {Ms("embed")}, search {Ms("search")}, KV load {Ms("kv_load")}, assemble {Ms("assemble")}, recompute {Ms("recompute")}), {Decode(timings)}"));
        var sources = result.GetProperty("sources").EnumerateArray().ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{sources.Count} chunks, cache hits {sources.Count(s => s.GetProperty("cache").GetString() == "hit")}, recomputed {result.GetProperty("recomputed_tokens").GetInt32()} of {sources.Sum(s => s.GetProperty("prompt_tokens").GetInt32())} chunk tokens"));
        if (result.TryGetProperty("compare", out var compare) && compare.ValueKind == JsonValueKind.Array)
        {
            foreach (var other in compare.EnumerateArray())
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {other.GetProperty("method").GetString(),-16} TTFT {other.GetProperty("ttft_seconds").GetDouble() * 1000,8:F1} ms  first token {(other.GetProperty("first_token_agrees").GetBoolean() ? "agrees" : "differs")}  {other.GetProperty("answer").GetString()?.Trim()}"));
            }
        }
        return CliApp.Ok;
    }

    /// <summary>Decode speed; the server reports 0 when the answer had too few tokens after the first to time.</summary>
    private static string Decode(JsonElement timings) => timings.GetProperty("decode_tokens_per_second").GetDouble() is > 0 and var perSecond
        ? string.Create(CultureInfo.InvariantCulture, $"decode {perSecond:F1} tokens/s")
        : "decode: too few tokens to time";
}
