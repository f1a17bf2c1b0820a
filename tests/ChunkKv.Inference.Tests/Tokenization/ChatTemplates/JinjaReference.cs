using System.Diagnostics;
using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Tests;

/// <summary>
/// @huggingface/jinja 0.5.11 (the renderer of transformers.js), run with node on render-templates.js:
/// what a chat template renders, as the reference for ours. Linked into the other test projects.
/// </summary>
internal static class JinjaReference
{
    /// <summary>Each (template, variables) rendered: its text, or the reference's error.</summary>
    public static List<(string? Text, string? Error)> Render(IEnumerable<(string Template, JsonObject Variables)> cases)
    {
        var script = Path.Combine(Fixtures.RepoRoot, "tests", "ChunkKv.Inference.Tests", "Tokenization", "ChatTemplates", "render-templates.js");
        var start = new ProcessStartInfo("node")
        {
            ArgumentList = { script, Fixtures.NpmPackage("jinja") },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        process.StandardInput.Write(new JsonArray(cases.Select(c => (JsonNode)new JsonObject
        {
            ["template"] = c.Template,
            ["variables"] = c.Variables.DeepClone(),
        }).ToArray()).ToJsonString());
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"node failed: {stderr.Result}");
        }
        return JsonNode.Parse(output)!.AsArray()
            .Select(r => (r!["text"]?.GetValue<string>(), r["error"]?.GetValue<string>())).ToList();
    }

    /// <summary>The text a template renders with these variables; the reference's error is an exception.</summary>
    public static string Render(string template, JsonObject variables)
    {
        var (text, error) = Render([(template, variables)])[0];
        return text ?? throw new InvalidOperationException($"@huggingface/jinja failed: {error}");
    }
}
