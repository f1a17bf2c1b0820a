using System.Security.Cryptography;
using System.Text.Json;
using Xunit.Abstractions;

namespace ChunkKv.Inference.Tests.Models;

/// <summary>
/// Logits against an independent float64 PyTorch forward pass (tools/reference/forward.py) on the same
/// tiny random models: every architecture switch, 300-token prompts that cross attention tiles,
/// positions with gaps up to 5000 (Llama 3 scaling), and F16/BF16 weights.
/// </summary>
public sealed class ReferenceLogitsTests(ITestOutputHelper output)
{
    // fp32 against float64: a relative error of 2e-6 of the logit range leaves room for summation order
    // over 300 tokens and 3 layers, and is still 50x below what one wrong term produces.
    private const double RelativeTolerance = 2e-6;

    private static readonly JsonElement[] Cases = LoadCases();

    public static TheoryData<string> CaseNames => new(Cases.Select(c => c.GetProperty("name").GetString()!));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Last_position_logits_match_the_reference(string name)
    {
        var item = Cases.Single(c => c.GetProperty("name").GetString() == name);
        var shape = item.GetProperty("shape").GetString()!;
        var dtype = item.GetProperty("dtype").GetString()!;
        var directory = TinyModels.Directory(shape, dtype);
        var digest = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(directory, "model.safetensors"))));
        Assert.True(digest == item.GetProperty("weights_sha256").GetString(),
            "the random-model generator no longer writes the weights the reference was computed on; rerun tools/reference/make_reference.py");

        using var model = Inference.Models.LanguageModel.Load(directory);
        var ids = Ints(item.GetProperty("ids"));
        var positions = Ints(item.GetProperty("positions"));
        var expected = item.GetProperty("logits").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var actual = model.Transformer.Prefill(ids, positions, model.Transformer.NewSequence(ids.Length));

        var scale = Math.Max(1, expected.Max(Math.Abs));
        var error = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.Equal(expected.Length, actual.Length);
        output.WriteLine($"{name}: max abs error {error:E2}, logits up to {scale:F2}");
        Assert.True(error <= RelativeTolerance * scale, $"{name}: max abs error {error:E2} (logits up to {scale:F1})");
    }

    private static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    private static JsonElement[] LoadCases()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Models", "reference-logits.json");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("cases").EnumerateArray().ToArray();
    }
}
