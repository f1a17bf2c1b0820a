namespace ChunkKv.Cli;

/// <summary>
/// An option a verb takes: <c>--name VALUE</c>, or a flag (<see cref="ValueName"/> null) that never
/// takes the next word. <see cref="CliApp"/> turns these into System.CommandLine options, so an
/// unknown option, a missing value or a repeated option is a usage error, and help lists them.
/// </summary>
public sealed record CliOption(string Name, string Description, string? ValueName, bool Required = false)
{
    public static CliOption Value(string name, string valueName, string description) => new(name, description, valueName);

    public static CliOption RequiredValue(string name, string valueName, string description) => new(name, description, valueName, true);

    public static CliOption Flag(string name, string description) => new(name, description, null);

    public bool IsFlag => ValueName is null;
}

/// <summary>The positional words a verb takes, by their name in help.</summary>
public sealed record CliArgument(string Name, string Description, bool Many = false);

/// <summary>Options several verbs share, described once.</summary>
public static class CommonOptions
{
    public static readonly CliOption Model = CliOption.RequiredValue("model", "DIR", "a Hugging Face Llama-family model directory");
    public static readonly CliOption Json = CliOption.Flag("json", "print one JSON object instead of a table");
    public static readonly CliOption Weights = CliOption.Value("weights", "TYPE",
        "how the model's matrices are kept in memory: auto (default: as the checkpoint stores them), f32, bf16, f16 or q8 (int8 with a scale per 32 weights)");
    public static readonly CliOption WeightMemory = CliOption.Value("weight-memory", "WHERE",
        "where the matrices live: auto (default: huge pages where the kernel offers them), mapped (read in place from the file, 4 KiB pages) or huge-pages (copied at load)");
    public static readonly CliOption Server = CliOption.Value("server", "URL", "the ChunkKv server (default $CHUNKKV_SERVER or http://127.0.0.1:8080)");
    public static readonly CliOption Collection = CliOption.RequiredValue("collection", "NAME", "the collection on the server");
    public static readonly CliOption ModelCache = CliOption.Value("model-cache", "DIR", "where benchmark models with random weights are kept between runs");
    public static readonly CliOption Shape = CliOption.Value("shape", "NAME", "a named model shape (default qwen2.5-0.5b)");
    public static readonly CliOption Codec = CliOption.Value("codec", "CODEC", "stored cache codec: f32, f16 (default), bf16, int8, int4, int2");
    public static readonly CliOption Redis = CliOption.Value("redis", "CONF", "Redis configuration string (default $CHUNKKV_REDIS)");
}
