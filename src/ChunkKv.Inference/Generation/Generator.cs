using System.Diagnostics;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;

namespace ChunkKv.Inference.Generation;

public enum StopReason
{
    EndOfSequence,
    TokenBudget,
    Cancelled,
}

/// <summary>The decoded tokens and how long the two phases took.</summary>
public sealed record GenerationResult(int[] Tokens, StopReason StopReason, TimeSpan FirstTokenTime, TimeSpan DecodeTime)
{
    /// <summary>Tokens after the first, per second of decoding.</summary>
    public double DecodeTokensPerSecond => Tokens.Length > 1 && DecodeTime > TimeSpan.Zero
        ? (Tokens.Length - 1) / DecodeTime.TotalSeconds
        : 0;
}

/// <summary>Autoregressive decoding with the KV cache: one forward row per new token.</summary>
public static class Generator
{
    /// <summary>
    /// Continues <paramref name="sequence"/> from <paramref name="logits"/> (the last prefilled token's), feeding each
    /// picked token back until an end-of-sequence token or <paramref name="maxTokens"/>. Each token goes to
    /// <paramref name="onToken"/> as soon as it is picked.
    /// </summary>
    public static GenerationResult Decode(Transformer model, KvSequence sequence, float[] logits, int maxTokens,
        SamplingOptions sampling, Action<int>? onToken = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxTokens);
        var sampler = new Sampler(sampling);
        var eos = model.Config.EosTokenIds;
        var tokens = new List<int>();
        var clock = Stopwatch.StartNew();
        var firstTokenTime = TimeSpan.Zero;
        var reason = StopReason.TokenBudget;
        while (tokens.Count < maxTokens)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                reason = StopReason.Cancelled;
                break;
            }
            var next = sampler.Next(logits);
            if (tokens.Count == 0)
            {
                firstTokenTime = clock.Elapsed;
            }
            if (eos.Contains(next))
            {
                reason = StopReason.EndOfSequence;
                break;
            }
            tokens.Add(next);
            onToken?.Invoke(next);
            if (tokens.Count < maxTokens)
            {
                logits = model.Prefill([next], sequence);
            }
        }
        return new GenerationResult(tokens.ToArray(), reason, firstTokenTime, clock.Elapsed - firstTokenTime);
    }

    /// <summary>Prefills <paramref name="prompt"/> into a fresh sequence, then decodes.</summary>
    public static GenerationResult Generate(Transformer model, ReadOnlySpan<int> prompt, int maxTokens,
        SamplingOptions sampling, Action<int>? onToken = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var sequence = model.NewSequence(prompt.Length + maxTokens);
        var logits = model.Prefill(prompt, sequence);
        var prefillTime = clock.Elapsed;
        var result = Decode(model, sequence, logits, maxTokens, sampling, onToken, cancellationToken);
        return result with { FirstTokenTime = prefillTime + result.FirstTokenTime };
    }
}
