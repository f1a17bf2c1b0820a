using ChunkKv.Collections;
using ChunkKv.Fusion;
using ChunkKv.Inference.Generation;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Evaluation;

/// <summary>One method's figures on one kind of question.</summary>
/// <param name="Accuracy">The mean of the records' metric (<paramref name="Metric"/>): exact answers, F1 over token ids, or Rouge-L.</param>
/// <param name="ExactMatch">Answers equal to a gold one once both are normalized (SQuAD's rule), beside the metric.</param>
public sealed record MethodScore(
    string Method,
    string Kind,
    int Questions,
    double Accuracy,
    double FirstTokenAgreement,
    double MeanKlDivergence,
    double SameAnswerAsFull,
    double RecomputedShare,
    double MedianTtftSeconds,
    string Metric = "exact",
    double ExactMatch = 0);

/// <summary>
/// Answers every held-apart question with each fusion method on the path the server answers on (a
/// runtime's <see cref="CollectionContext.FuseAsync"/>, caches through its store, its fuser with
/// Cache-Craft's variants), and compares with the gold answer and with <c>full</c> on the same
/// prompt: the record's metric (the fixture's exact answers, CacheBlend's F1 over token ids, Rouge-L),
/// exact match after normalization, first-token agreement, KL divergence of the first-token distribution from
/// full's, greedy answers identical to full's, share of chunk rows recomputed, median time to first
/// token (<see cref="FusedPrompt.Ttft"/>). A record's prefix is its collection's.
/// </summary>
/// <param name="contextOf">The collection context a record runs in; by default an unnamed one with the record's prefix, caches shared
/// (the server passes the collection's own, so a tenant's calibration reads and stores only that tenant's caches).</param>
/// <param name="slice">Taken around each record's work and released after it (the server's compute gate: queries go between records).</param>
public sealed class FusionEvaluator(ChunkKvRuntime runtime, int maxAnswerTokens = 16, Func<EvalRecord, CollectionContext>? contextOf = null,
    Func<CancellationToken, Task<IAsyncDisposable>>? slice = null)
{
    public async Task<IReadOnlyList<MethodScore>> EvaluateAsync(IReadOnlyList<EvalRecord> records, IReadOnlyList<FusionMethod> methods,
        Action<int>? progress = null, CancellationToken cancellationToken = default)
    {
        var all = methods.Contains(FusionMethod.Full) ? methods : [FusionMethod.Full, .. methods];
        var outcomes = all.ToDictionary(m => m.Name, _ => new List<(string Kind, Outcome Outcome)>());
        for (var i = 0; i < records.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var record = records[i];
            await using var held = slice is null ? null : await slice(cancellationToken);
            var context = contextOf?.Invoke(record) ?? runtime.Collection("", new CollectionSettings(Prefix: record.Prefix));
            var prompt = context.Prompt(record.Chunks, record.Question);
            // Ingestion would have stored them: each method's load is then timed as the hit a query gets.
            await context.StoreCachesAsync(prompt, cancellationToken);
            Outcome? full = null;
            foreach (var method in all.OrderBy(m => m == FusionMethod.Full ? 0 : 1))
            {
                Outcome outcome;
                try
                {
                    outcome = await AnswerAsync(context, prompt, method, cancellationToken);
                }
                catch (PromptTooLongException e)
                {
                    throw new ArgumentException($"record {record.Id}: {e.Message}", e);
                }
                full ??= outcome;
                outcomes[method.Name].Add((record.Kind, outcome with
                {
                    Score = Score(record, outcome.Text),
                    ExactMatch = Metrics.AnswerMetrics.ExactMatch(outcome.Text, record.Answers),
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
                var metric = records.First(r => r.Kind == kind).Metric;
                scores.Add(new MethodScore(method.Name, kind, mine.Count, mine.Average(o => o.Score), Share(mine, o => o.AgreesWithFull),
                    mine.Average(o => o.KlFromFull), Share(mine, o => o.SameAsFull), mine.Average(o => o.RecomputedShare),
                    Statistics.Median(mine.Select(o => o.TtftSeconds)), metric.ToString().ToLowerInvariant(), mine.Average(o => o.ExactMatch)));
            }
        }
        return scores;
    }

    /// <summary>The record's metric for one answer: the fixture's exact rule, CacheBlend's F1 over token ids, or Rouge-L.</summary>
    private double Score(EvalRecord record, string answer) => record.Metric switch
    {
        AnswerMetric.F1 => Metrics.AnswerMetrics.F1(answer, record.Answers, runtime.Model.Tokenizer!),
        AnswerMetric.RougeL => Metrics.RougeL.FMeasure(answer, record.Answers),
        _ => string.Equals(answer.Trim(), record.Answer.Trim(), StringComparison.Ordinal) ? 1 : 0,
    };

    private async Task<Outcome> AnswerAsync(CollectionContext context, FusionPrompt prompt, FusionMethod method, CancellationToken cancellationToken)
    {
        using var fused = await context.FuseAsync(prompt, method, maxAnswerTokens, cancellationToken);
        var probabilities = Softmax(fused.Fusion.Logits);
        var answer = Generator.Decode(runtime.Model.Transformer, fused.Fusion.Sequence, fused.Fusion.Logits, maxAnswerTokens, SamplingOptions.Greedy,
            cancellationToken: cancellationToken);
        var first = Array.IndexOf(probabilities, probabilities.Max());
        return new Outcome(first, answer.Tokens, context.Tokenizer.Decode(answer.Tokens), probabilities, fused.RecomputedShare, fused.Ttft.TotalSeconds);
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

    private sealed record Outcome(int FirstToken, int[] Tokens, string Text, double[] Probabilities, double RecomputedShare, double TtftSeconds)
    {
        public double Score { get; init; }
        public double ExactMatch { get; init; }
        public bool AgreesWithFull { get; init; }
        public bool SameAsFull { get; init; }
        public double KlFromFull { get; init; }
    }
}
