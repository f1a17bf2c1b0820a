using ChunkKv.Fusion;
using ChunkKv.Inference.Generation;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;
using ChunkKv.Pipeline;

namespace ChunkKv.Evaluation;

/// <summary>One method's figures on one kind of question.</summary>
public sealed record MethodScore(
    string Method,
    string Kind,
    int Questions,
    double Accuracy,
    double FirstTokenAgreement,
    double MeanKlDivergence,
    double SameAnswerAsFull,
    double RecomputedShare,
    double MedianTtftSeconds);

/// <summary>
/// Answers every held-apart question with each fusion method from caches that come through the
/// real store, and compares with the gold answer and with <c>full</c> on the same prompt: accuracy,
/// first-token agreement, KL divergence of the first-token distribution from full's, greedy answers
/// identical to full's, share of chunk rows recomputed, median time to first token (cache load + fusion).
/// </summary>
public sealed class FusionEvaluator(LanguageModel model, PromptLayout layout, PromptCacheLoader caches, int maxAnswerTokens = 16)
{
    private readonly Fuser fuser = new(model.Transformer);

    public async Task<IReadOnlyList<MethodScore>> EvaluateAsync(IReadOnlyList<EvalRecord> records, IReadOnlyList<FusionMethod> methods,
        Action<int>? progress = null, CancellationToken cancellationToken = default)
    {
        var tokenizer = model.Tokenizer ?? throw new InvalidOperationException("the model has no tokenizer.json: evaluation reads text");
        var all = methods.Any(m => m.Kind == FusionKind.Full) ? methods : [FusionMethod.Full, .. methods];
        var outcomes = all.ToDictionary(m => m.Name, _ => new List<(string Kind, Outcome Outcome)>());
        var sequence = model.Transformer.NewSequence(1024);
        for (var i = 0; i < records.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var record = records[i];
            var prompt = layout.Build(tokenizer, record.Chunks, record.Question, record.Prefix);
            if (prompt.Length + maxAnswerTokens > model.Config.MaxPositions)
            {
                throw new ArgumentException($"record {record.Id}: the prompt has {prompt.Length} tokens, more than the model's {model.Config.MaxPositions} positions allow");
            }
            var loaded = await caches.LoadAsync(prompt, cancellationToken);
            if (loaded.Prefix == CacheSource.Computed || loaded.Chunks.Contains(CacheSource.Computed))
            {
                // Ingestion would have stored them: time the load as the hit a query gets.
                loaded.Dispose();
                loaded = await caches.LoadAsync(prompt, cancellationToken);
            }
            using var held = loaded;
            Outcome? full = null;
            foreach (var method in all.OrderBy(m => m.Kind == FusionKind.Full ? 0 : 1))
            {
                var outcome = Answer(prompt, loaded, method, sequence, tokens => tokenizer.Decode(tokens));
                full ??= outcome;
                outcomes[method.Name].Add((record.Kind, outcome with
                {
                    Correct = string.Equals(outcome.Text.Trim(), record.Answer.Trim(), StringComparison.Ordinal),
                    AgreesWithFull = outcome.FirstToken == full.FirstToken,
                    SameAsFull = outcome.Tokens.SequenceEqual(full.Tokens),
                    KlFromFull = KlDivergence(full.Probabilities, outcome.Probabilities),
                }));
            }
            progress?.Invoke(i + 1);
        }
        var scores = new List<MethodScore>();
        foreach (var method in methods)
        {
            foreach (var kind in records.Select(r => r.Kind).Distinct().Order(StringComparer.Ordinal))
            {
                var mine = outcomes[method.Name].Where(o => o.Kind == kind).Select(o => o.Outcome).ToList();
                scores.Add(new MethodScore(method.Name, kind, mine.Count, Share(mine, o => o.Correct), Share(mine, o => o.AgreesWithFull),
                    mine.Average(o => o.KlFromFull), Share(mine, o => o.SameAsFull), mine.Average(o => o.RecomputedShare),
                    Median(mine.Select(o => o.TtftSeconds))));
            }
        }
        return scores;
    }

    private Outcome Answer(FusionPrompt prompt, LoadedCaches loaded, FusionMethod method, KvSequence sequence, Func<int[], string> decode)
    {
        var fused = fuser.Fuse(prompt, loaded.Caches, method, sequence);
        var ttft = (loaded.Elapsed + fused.Timings.Total).TotalSeconds;
        var probabilities = Softmax(fused.Logits);
        var answer = Generator.Decode(model.Transformer, fused.Sequence, fused.Logits, maxAnswerTokens, SamplingOptions.Greedy);
        var first = Array.IndexOf(probabilities, probabilities.Max());
        return new Outcome(first, answer.Tokens, decode(answer.Tokens), probabilities,
            prompt.ChunkTokens == 0 ? 0 : (double)fused.Recomputed.Length / prompt.ChunkTokens, ttft);
    }

    private static double[] Softmax(float[] logits)
    {
        var max = logits.Max();
        var exp = logits.Select(l => Math.Exp(l - max)).ToArray();
        var sum = exp.Sum();
        return exp.Select(e => e / sum).ToArray();
    }

    /// <summary>KL(p ‖ q) in nats.</summary>
    private static double KlDivergence(double[] p, double[] q)
    {
        double kl = 0;
        for (var i = 0; i < p.Length; i++)
        {
            if (p[i] > 0)
            {
                kl += p[i] * Math.Log(p[i] / Math.Max(q[i], 1e-300));
            }
        }
        return Math.Max(0, kl);
    }

    private static double Share<T>(IReadOnlyCollection<T> items, Func<T, bool> predicate) => items.Count == 0 ? 0 : (double)items.Count(predicate) / items.Count;

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private sealed record Outcome(int FirstToken, int[] Tokens, string Text, double[] Probabilities, double RecomputedShare, double TtftSeconds)
    {
        public bool Correct { get; init; }
        public bool AgreesWithFull { get; init; }
        public bool SameAsFull { get; init; }
        public double KlFromFull { get; init; }
    }
}
