using ChunkKv.Inference.Models;

namespace ChunkKv.Server.Tests.Api;

/// <summary>
/// The server in process with a tiny random Qwen3-architecture model that reads real Qwen3 tokens,
/// the embedded index and memory + disk tiers in a scratch folder: the main job's set-up, small.
/// </summary>
public class ApiServer : IAsyncLifetime
{
    public static string Model => ModelDirectory.Value;

    private static readonly Lazy<string> ModelDirectory = new(() =>
    {
        var directory = Path.Combine(Path.GetTempPath(), $"chunkkv-api-model-{Guid.NewGuid():N}");
        RandomModel.Write(directory, ModelShape.Find("tiny-qwen3") with { VocabSize = 151_936 }, seed: 5);
        var tokenizer = Path.Combine(RepoRoot(), ".fixtures", "npm", "tokenizer-qwen3", "package", "models");
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
        {
            File.Copy(Path.Combine(tokenizer, file), Path.Combine(directory, file));
        }
        return directory;
    });

    private readonly string _data = Path.Combine(Path.GetTempPath(), $"chunkkv-api-data-{Guid.NewGuid():N}");

    public ServerFactory Factory { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ChunkKv.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("ChunkKv.sln not found above the test binaries");
    }

    /// <summary>Listen on a loopback port with Kestrel (a browser needs a real address) instead of in memory.</summary>
    protected virtual bool UseKestrel => false;

    public Task InitializeAsync()
    {
        Factory = new ServerFactory(postgres: null, redis: null, new Dictionary<string, string?>
        {
            ["Model"] = ModelDirectory.Value,
            ["DataDirectory"] = _data,
            ["ChunkTokens"] = "48",
            ["MaxTokens"] = "64",
        });
        if (UseKestrel)
        {
            Factory.UseKestrel(0);
            Factory.StartServer();
        }
        Client = Factory.CreateClient();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Factory.DisposeAsync();
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
