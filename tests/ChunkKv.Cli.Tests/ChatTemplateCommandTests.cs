using System.Text.Json.Nodes;
using ChunkKv.Inference.Tests;

namespace ChunkKv.Cli.Tests;

/// <summary><c>chunkkv chat-template</c>: a directory with only the two tokenizer files, the prompt exactly as @huggingface/jinja renders it.</summary>
public sealed class ChatTemplateCommandTests
{
    private static readonly JsonArray Conversation =
    [
        new JsonObject { ["role"] = "system", ["content"] = "Answer from the notes." },
        new JsonObject { ["role"] = "user", ["content"] = "Who founded the guild?" },
        new JsonObject { ["role"] = "assistant", ["content"] = "Mara Voss, in 1802." },
        new JsonObject { ["role"] = "user", ["content"] = "Where was she born?" },
    ];

    [Theory]
    [InlineData("qwen3")]
    [InlineData("llama3")]
    public async Task Prints_exactly_what_the_reference_renders(string model)
    {
        var directory = TokenizerFilesOnly(model);
        var messages = Path.Combine(directory, "messages.json");
        File.WriteAllText(messages, Conversation.ToJsonString());

        var (code, output, error) = await Cli.RunAsync("chat-template", "--model", directory, "--messages", messages);

        Assert.True(code == CliApp.Ok, error);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "tokenizer_config.json")))!;
        var variables = new JsonObject { ["messages"] = Conversation.DeepClone(), ["add_generation_prompt"] = true };
        foreach (var token in new[] { "bos_token", "eos_token" })
        {
            if (config[token] is JsonValue v && v.TryGetValue(out string? text))
            {
                variables[token] = text;
            }
        }
        var expected = JinjaReference.Render(config["chat_template"]!.GetValue<string>(), variables);
        Assert.Equal(expected, output);
        Assert.EndsWith(model == "qwen3" ? "<|im_start|>assistant\n" : "<|start_header_id|>assistant<|end_header_id|>\n\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Takes_an_object_with_more_variables()
    {
        var directory = TokenizerFilesOnly("qwen3");
        var file = Path.Combine(directory, "conversation.json");
        File.WriteAllText(file, new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }),
            ["enable_thinking"] = false,
        }.ToJsonString());
        var (code, output, error) = await Cli.RunAsync("chat-template", "--model", directory, "--messages", file);
        Assert.True(code == CliApp.Ok, error);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", output);
    }

    [Fact]
    public async Task Says_what_is_wrong_with_its_input()
    {
        var directory = TokenizerFilesOnly("qwen3");
        var bad = Path.Combine(directory, "bad.json");
        File.WriteAllText(bad, "{\"messages\": [{\"content\": \"no role\"}]}");
        var (code, _, error) = await Cli.RunAsync("chat-template", "--model", directory, "--messages", bad);
        Assert.Equal(CliApp.Failed, code);
        Assert.Contains("message 0 must be an object with a \"role\"", error, StringComparison.Ordinal);

        var messages = Path.Combine(directory, "m.json");
        File.WriteAllText(messages, "[]");
        (code, _, error) = await Cli.RunAsync("chat-template", "--model", Fixtures.TokenizerDirectory("llama2"), "--messages", messages);
        Assert.Equal(CliApp.Failed, code);
        Assert.Contains("has no chat template", error, StringComparison.Ordinal);

        (code, _, _) = await Cli.RunAsync("chat-template", "--model", directory);
        Assert.Equal(CliApp.Usage, code);
    }

    private static string TokenizerFilesOnly(string model)
    {
        var directory = Fixtures.TempDirectory($"chat-template-{model}");
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
        {
            File.Copy(Path.Combine(Fixtures.TokenizerDirectory(model), file), Path.Combine(directory, file));
        }
        return directory;
    }
}
