using System.Numerics.Tensors;

namespace ChunkKv.Inference.Generation;

/// <summary>How the next token is picked: greedy at temperature 0, else softmax sampling within the top-p nucleus.</summary>
public sealed record SamplingOptions(float Temperature = 0f, float TopP = 1f, int? Seed = null)
{
    public static readonly SamplingOptions Greedy = new();
}

/// <summary>Picks tokens from logits. Not thread-safe (it owns its random source).</summary>
public sealed class Sampler
{
    private readonly SamplingOptions options;
    private readonly Random random;

    public Sampler(SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Temperature < 0 || float.IsNaN(options.Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"temperature must be 0 or more, got {options.Temperature}");
        }
        if (options.TopP is <= 0 or > 1 || float.IsNaN(options.TopP))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"top-p must be in (0, 1], got {options.TopP}");
        }
        this.options = options;
        random = options.Seed is { } seed ? new Random(seed) : new Random();
    }

    public int Next(ReadOnlySpan<float> logits)
    {
        if (options.Temperature == 0f)
        {
            return TensorPrimitives.IndexOfMax(logits);
        }
        var probabilities = new float[logits.Length];
        TensorPrimitives.Divide(logits, options.Temperature, probabilities);
        TensorPrimitives.SoftMax(probabilities, probabilities);
        var order = Enumerable.Range(0, probabilities.Length).ToArray();
        Array.Sort(probabilities.ToArray(), order, Comparer<float>.Create((a, b) => b.CompareTo(a)));
        // Keep the smallest set of most likely tokens whose mass reaches top-p, then draw within it.
        var kept = 0;
        var mass = 0.0;
        while (kept < order.Length && (kept == 0 || mass < options.TopP))
        {
            mass += probabilities[order[kept++]];
        }
        var target = random.NextDouble() * mass;
        for (var i = 0; i < kept; i++)
        {
            target -= probabilities[order[i]];
            if (target <= 0)
            {
                return order[i];
            }
        }
        return order[kept - 1];
    }
}
