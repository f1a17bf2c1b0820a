using System.Text.Json;
using System.Text.Json.Nodes;
using ChunkKv.Inference.Generation;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tests;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Cli.Tests;

/// <summary>The model verbs: tokenize, logits, generate, random-model.</summary>
public sealed class ModelCommandsTests
{
    private static async Task<string> TinyModelAsync(string shape)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"chunkkv-cli-{shape}-{Guid.NewGuid():N}");
        var (code, _, error) = await Cli.RunAsync("random-model", "--shape", shape, "--out", directory);
        Assert.True(code == CliApp.Ok, error);
        WriteByteTokenizer(directory);
        return directory;
    }

    [Fact]
    public async Task Tokenize_prints_the_ids_of_a_real_tokenizer()
    {
        var directory = Fixtures.TokenizerDirectory("qwen3");
        var (code, output, error) = await Cli.RunAsync("tokenize", "--model", directory, "--text", "Hello world");
        Assert.True(code == CliApp.Ok, error);
        Assert.Equal([9707, 1879], JsonSerializer.Deserialize<int[]>(output)!); // ids from @lenml/tokenizers
    }

    [Fact]
    public async Task Logits_prints_the_last_position_of_a_full_pass()
    {
        var directory = await TinyModelAsync("tiny-qwen3");
        var (code, output, error) = await Cli.RunAsync("logits", "--model", directory, "--ids", "1,2,3,200");
        Assert.True(code == CliApp.Ok, error);
        var printed = JsonNode.Parse(output)!["logits"]!.AsArray().Select(n => n!.GetValue<float>()).ToArray();
        using var model = LanguageModel.Load(directory);
        var expected = model.Transformer.Prefill([1, 2, 3, 200], model.Transformer.NewSequence());
        Assert.Equal(expected, printed);
    }

    [Fact]
    public async Task Generate_prints_the_greedy_completion()
    {
        var directory = await TinyModelAsync("tiny-llama3");
        var (code, output, error) = await Cli.RunAsync("generate", "--model", directory, "--prompt", "Once upon", "--max-tokens", "8");
        Assert.True(code == CliApp.Ok, error);
        using var model = LanguageModel.Load(directory);
        var prompt = model.Tokenizer!.Encode("Once upon");
        var tokens = Generator.Generate(model.Transformer, prompt, 8, SamplingOptions.Greedy).Tokens;
        Assert.Equal(model.Tokenizer.Decode(tokens) + Environment.NewLine, output);
    }

    [Theory]
    [InlineData("logits", "--ids", "1,2,99999", "outside the vocabulary")]
    [InlineData("logits", "--ids", "1,x", "comma-separated integers")]
    [InlineData("generate", "--max-tokens", "0", "positive integer")]
    public async Task Bad_arguments_are_usage_errors(string verb, string option, string value, string message)
    {
        var directory = await TinyModelAsync("tiny-mistral");
        string[] args = verb == "logits"
            ? [verb, "--model", directory, option, value]
            : [verb, "--model", directory, "--prompt", "hi", option, value];
        var (code, _, error) = await Cli.RunAsync(args);
        Assert.Equal(CliApp.Usage, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_or_broken_model_fails_with_its_reason()
    {
        var (code, _, error) = await Cli.RunAsync("logits", "--model", "/nonexistent/model", "--ids", "1");
        Assert.Equal(CliApp.Failed, code);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);

        var directory = await TinyModelAsync("tiny-mistral");
        File.Delete(Path.Combine(directory, "model.safetensors"));
        (code, _, error) = await Cli.RunAsync("logits", "--model", directory, "--ids", "1");
        Assert.Equal(CliApp.Failed, code);
        Assert.Contains("no *.safetensors", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Random_model_refuses_an_unknown_shape()
    {
        var (code, _, error) = await Cli.RunAsync("random-model", "--shape", "gpt-9", "--out", Path.GetTempPath());
        Assert.Equal(CliApp.Usage, code);
        Assert.Contains("qwen2.5-0.5b", error, StringComparison.Ordinal);
    }

    /// <summary>A byte-level BPE tokenizer small enough for the tiny models' 384-token vocabulary.</summary>
    private static void WriteByteTokenizer(string directory)
    {
        var vocab = new JsonObject();
        var alphabet = ByteAlphabet();
        for (var b = 0; b < 256; b++)
        {
            vocab[alphabet[b]] = b;
        }
        string[][] merges = [["Ġ", "t"], ["h", "e"], ["Ġt", "he"], ["o", "n"], ["i", "n"]];
        var next = 256;
        foreach (var merge in merges)
        {
            vocab[merge[0] + merge[1]] = next++;
        }
        var json = new JsonObject
        {
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = 300, ["content"] = "<|end|>", ["special"] = true }),
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m[0], m[1])).ToArray()),
            },
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), json.ToJsonString());
        _ = Tokenizer.FromDirectory(directory); // fails here, not in the command, if the fixture is wrong
    }

    /// <summary>GPT-2's byte alphabet: printable Latin-1 bytes stand for themselves, the others take U+0100 onwards in order.</summary>
    private static string[] ByteAlphabet()
    {
        var alphabet = new string[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE;
            alphabet[b] = ((char)(printable ? b : next++)).ToString();
        }
        return alphabet;
    }
}
