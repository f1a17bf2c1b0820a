using System.Text.Json;
using System.Text.Json.Nodes;
using ChunkKv.Inference.Tokenization;
using ChunkKv.Inference.Tokenization.Jinja;

namespace ChunkKv.Inference.Tests.Tokenization.ChatTemplates;

/// <summary>
/// The C# renderer against @huggingface/jinja 0.5.11 (the renderer of transformers.js, run with node):
/// the real chat templates of Qwen3 and Llama 3 (from their npm tokenizer packages) and five templates
/// written here in the styles of other families, each on every conversation of conversations.json with
/// and without the generation prompt, and small templates of one construct each (constructs.json). The
/// text must be equal to the character; where the reference fails, ours must fail too, with the
/// template's own words when the template raised them.
/// </summary>
public sealed class ChatTemplateParityTests
{
    private static readonly string Folder = Path.Combine(Fixtures.RepoRoot, "tests", "ChunkKv.Inference.Tests", "Tokenization", "ChatTemplates");

    private static readonly Lazy<IReadOnlyDictionary<string, Case>> Cases = new(BuildCases);

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in Cases.Value.Keys)
        {
            data.Add(name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Renders_as_huggingface_jinja_does(string name)
    {
        var c = Cases.Value[name];
        string? text = null;
        Exception? error = null;
        try
        {
            text = JinjaTemplate.Parse(c.Template).Render(c.Variables);
        }
        catch (TemplateException e)
        {
            error = e;
        }
        if (c.Expected.Error is { } expectedError)
        {
            Assert.True(error is not null, $"the reference failed ({expectedError}) but ours rendered:\n{text}");
            if (error is TemplateRaisedException raised)
            {
                Assert.Equal(expectedError, raised.TemplateMessage);
            }
            return;
        }
        Assert.True(error is null, $"ours failed: {error?.Message}");
        Assert.Equal(c.Expected.Text, text);
    }

    [Fact]
    public void The_corpus_holds_both_real_templates_and_each_conversation()
    {
        var names = Cases.Value.Keys.ToList();
        foreach (var model in RealModels)
        {
            Assert.Contains(names, n => n.StartsWith($"{model}/", StringComparison.Ordinal));
        }
        Assert.True(names.Count >= 100, $"{names.Count} cases");
        // Some conversations are refused by some templates: the refusals are compared too.
        Assert.Contains(Cases.Value.Values, c => c.Expected.Error is not null);
    }

    private static readonly string[] RealModels = ["qwen3", "llama3"];

    private sealed record Case(string Template, JsonObject Variables)
    {
        public (string? Text, string? Error) Expected { get; set; }
    }

    private static Dictionary<string, Case> BuildCases()
    {
        var cases = new Dictionary<string, Case>();
        var templates = new Dictionary<string, (string Source, JsonObject Tokens)>();
        foreach (var model in RealModels)
        {
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures.TokenizerDirectory(model), "tokenizer_config.json")))!;
            var tokens = new JsonObject();
            foreach (var token in new[] { "bos_token", "eos_token" })
            {
                if (config[token] is JsonValue v && v.TryGetValue(out string? s))
                {
                    tokens[token] = s;
                }
            }
            templates[model] = (config["chat_template"]!.GetValue<string>(), tokens);
        }
        foreach (var file in Directory.GetFiles(Path.Combine(Folder, "templates"), "*.jinja").Order())
        {
            templates[Path.GetFileNameWithoutExtension(file)] = (File.ReadAllText(file), new JsonObject { ["bos_token"] = "<s>", ["eos_token"] = "</s>" });
        }
        var conversations = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "conversations.json")))!.AsArray();
        foreach (var (template, (source, tokens)) in templates)
        {
            foreach (var conversation in conversations.Select(c => c!.AsObject()))
            {
                foreach (var generationPrompt in new[] { true, false })
                {
                    var variables = (JsonObject)tokens.DeepClone();
                    foreach (var (key, value) in conversation.Where(p => p.Key != "name"))
                    {
                        variables[key] = value!.DeepClone();
                    }
                    variables["add_generation_prompt"] = generationPrompt;
                    variables["date_string"] = "03 Dec 2026";
                    cases[$"{template}/{conversation["name"]}/{(generationPrompt ? "open" : "closed")}"] = new Case(source, variables);
                }
            }
        }
        foreach (var construct in JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "constructs.json")))!.AsArray().Select(c => c!.AsObject()))
        {
            cases[$"construct/{construct["name"]}"] = new Case(construct["template"]!.GetValue<string>(),
                (JsonObject?)construct["variables"]?.DeepClone() ?? []);
        }
        var expected = JinjaReference.Render(cases.Values.Select(c => (c.Template, c.Variables)));
        foreach (var (c, result) in cases.Values.Zip(expected))
        {
            c.Expected = result;
        }
        return cases;
    }
}
