using System.Text.Json;
using ChunkKv.Inference.Models;
using Xunit.Abstractions;

namespace ChunkKv.Inference.Tests.Models;

/// <summary>
/// What keeping the weights in fewer bits costs, against the float64 reference forward pass on float32
/// checkpoints (reference-logits.json): the largest logit error of each weight type, relative to the
/// largest logit. The bounds follow from the rounding: bf16 keeps 8 significant bits (relative error
/// up to 2⁻⁹ a weight), f16 11 (2⁻¹²), Q8 a step of max|w| / 127 a group (up to half of it a weight,
/// so small weights lose more than in bf16); the errors of many weights partly cancel. Measured on the
/// tiny models (worst case): f32 3.9e-7, f16 6.4e-4, bf16 7.0e-3, q8 2.1e-2 (its last row, like decoding, multiplies
/// activations quantized to 8 bits: Q8Dots); the bounds leave about 2×.
/// </summary>
public sealed class WeightTypeAccuracyTests(ITestOutputHelper output)
{
    public static TheoryData<string, double> Bounds => new()
    {
        { "f32", 2e-6 },
        { "f16", 2e-3 },
        { "bf16", 1.5e-2 },
        { "q8", 4e-2 },
    };

    [Theory]
    [MemberData(nameof(Bounds))]
    public void Each_weight_type_stays_within_its_rounding_of_the_reference(string type, double bound)
    {
        var cases = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Models", "reference-logits.json")))
            .RootElement.GetProperty("cases").EnumerateArray().Where(c => c.GetProperty("dtype").GetString() == "f32").ToList();
        Assert.NotEmpty(cases);
        var worst = 0.0;
        foreach (var item in cases)
        {
            var directory = TinyModels.Directory(item.GetProperty("shape").GetString()!);
            using var model = LanguageModel.Load(directory, weights: WeightChoice.Parse(type));
            var ids = item.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var positions = item.GetProperty("positions").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var expected = item.GetProperty("logits").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var actual = model.Transformer.Prefill(ids, positions, model.Transformer.NewSequence(ids.Length));
            var relative = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max() / Math.Max(1, expected.Max(Math.Abs));
            output.WriteLine($"{type} {item.GetProperty("name").GetString()}: {relative:E2} of the largest logit");
            worst = Math.Max(worst, relative);
        }
        output.WriteLine($"{type}: worst {worst:E2} (bound {bound:E1})");
        Assert.InRange(worst, 0, bound);
    }
}
