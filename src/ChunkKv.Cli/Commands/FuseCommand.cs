using System.Text.Json;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Fusion;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv fuse --model DIR --prefix-ids 1,2 --chunks "5,6,7;8,9,10" --question-ids 11,12 --method cacheblend:0.15 [--json]</c>:
/// the last row's logits of the fused prompt and the context rows computed in the last layer. Each
/// chunk's cache is computed after the prefix as ingestion stores it; this is how the methods'
/// numbers are checked against an independent implementation.
/// </summary>
public sealed class FuseCommand : ICommand
{
    public string Name => "fuse";
    public string Summary => "fuse --chunks' caches with --method and print the last row's logits as JSON";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CommonOptions.Model,
        CommonOptions.Weights,
        CommonOptions.WeightMemory,
        CliOption.Value("prefix-ids", "IDS", "the shared prefix's token ids, comma-separated"),
        CliOption.RequiredValue("chunks", "CHUNKS", "each chunk's token ids, comma-separated, chunks separated by ';'"),
        CliOption.RequiredValue("question-ids", "IDS", "the question's token ids, comma-separated"),
        CliOption.Value("method", "METHOD", "the fusion method (default cacheblend:0.15)"),
        CliOption.Flag("json", "accepted for scripts that pass it: the output is always one JSON object"),
    ];

    public async Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var prefix = arguments.Optional("prefix-ids") is { Length: > 0 } ? arguments.IntegerList("prefix-ids")! : [];
        var chunkText = arguments.Required("chunks");
        var chunks = chunkText.Split(';').Select((part, i) => part.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(id => int.TryParse(id, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value
                : throw new UsageException($"--chunks: chunk {i + 1} has '{id}', not a token id")).ToArray()).ToList();
        if (chunks.Any(c => c.Length == 0))
        {
            throw new UsageException("--chunks: every chunk needs at least one token id (chunks are separated by ';')");
        }
        var question = arguments.IntegerList("question-ids") ?? throw new UsageException("--question-ids is required");
        var method = arguments.Parsed("method", FusionMethod.Default, FusionMethod.Parse);
        using var model = ModelArguments.Load(arguments);
        // f32 caches: the fused numbers are the method's alone, which is what an independent implementation checks.
        var context = new ChunkKvRuntime(model, new KvStore([new MemoryTier(1L << 30)]), KvCodec.Create(KvCodecId.F32)).ForPrefixTokens(prefix);
        var prompt = context.Prompt(chunks, question);
        var outside = prompt.AllTokens().Where(id => (uint)id >= (uint)model.Config.VocabSize).ToArray();
        if (outside.Length > 0)
        {
            throw new UsageException($"token id {outside[0]} is outside the vocabulary of {model.Config.VocabSize}");
        }
        try
        {
            method.CheckFits(model.Config);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        await context.StoreCachesAsync(prompt, cancellationToken); // as ingestion would have: the fusion below finds them
        using var fused = await context.FuseAsync(prompt, method, answerTokens: 0, cancellationToken);
        output.WriteLine(JsonSerializer.Serialize(new
        {
            method = method.Name, logits = fused.Fusion.Logits, recomputed = fused.Fusion.Recomputed, ttft_ms = fused.Ttft.TotalMilliseconds,
        }));
        return CliApp.Ok;
    }
}
