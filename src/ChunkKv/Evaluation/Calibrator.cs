using ChunkKv.Collections;
using ChunkKv.Fusion;

namespace ChunkKv.Evaluation;

/// <summary>What a method must reach against <c>full</c> to pass: first tokens equal on this share of prompts, and this mean KL at most.</summary>
public sealed record CalibrationTarget(double Agreement = 0.99, double MeanKl = 0.01);

/// <summary>One rung of a method's ladder: its figures against full and whether they meet the target.</summary>
public sealed record CalibrationRung(string Method, double Agreement, double MeanKl, double RecomputedShare, double MedianTtftSeconds, bool Meets);

/// <summary>A method family's ladder of budgets, smallest first, and the smallest that meets the target (null: none does).</summary>
public sealed record MethodCalibration(string Family, IReadOnlyList<CalibrationRung> Ladder, string? Smallest);

/// <summary>The calibration of one model on one set of prompts: each family's ladder, and the default it gives (the fastest method that meets the target).</summary>
public sealed record CalibrationResult(string ModelFingerprint, int Prompts, CalibrationTarget Target, IReadOnlyList<MethodCalibration> Methods, string? Default)
{
    public DateTimeOffset CalibratedAt { get; init; } = DateTimeOffset.UtcNow;
}

/// <summary>
/// The fidelity gate: a re-positioned cache can garble one model and not another (LMCache issue #4666),
/// so before a method serves, it is run against <c>full</c> on the model and prompts at hand, up a
/// ladder of budgets, and the smallest budget of each method whose first token agrees with full's on
/// enough prompts, and whose first-token distribution stays close enough (KL), is recorded. The
/// prompts are the set's own, each also in other chunk orders (a method must not depend on one order).
/// It runs the same path as <see cref="FusionEvaluator"/> (and so as the server).
/// </summary>
/// <param name="contextOf">As <see cref="FusionEvaluator"/>'s: the collection context each prompt runs in.</param>
/// <param name="slice">As <see cref="FusionEvaluator"/>'s: held around each prompt's work.</param>
public sealed class Calibrator(ChunkKvRuntime runtime, Func<EvalRecord, CollectionContext>? contextOf = null,
    Func<CancellationToken, Task<IAsyncDisposable>>? slice = null)
{
    /// <summary>The default ladders: budgets from small to large for each selective method, reuse as the floor.</summary>
    public static IReadOnlyList<(string Family, IReadOnlyList<FusionMethod> Ladder)> DefaultLadders { get; } =
    [
        ("reuse", [FusionMethod.Reuse]),
        ("epic", Ladder("epic:{0}", "4", "8", "16", "32")),
        ("cacheblend", Ladder("cacheblend:{0}", "0.05", "0.1", "0.15", "0.25", "0.4")),
        ("cachecraft", Ladder("cachecraft:{0}", "0.05", "0.1", "0.15", "0.25", "0.4")),
        ("query", Ladder("query:{0}:16", "0.05", "0.1", "0.15", "0.25", "0.4")),
    ];

    private static FusionMethod[] Ladder(string format, params string[] budgets) =>
        budgets.Select(b => FusionMethod.Parse(string.Format(System.Globalization.CultureInfo.InvariantCulture, format, b))).ToArray();

    /// <param name="records">The prompts (each record's chunks, question and prefix); each runs in <paramref name="orders"/> chunk orders.</param>
    public async Task<CalibrationResult> CalibrateAsync(IReadOnlyList<EvalRecord> records, CalibrationTarget target, int orders = 2,
        IReadOnlyList<(string Family, IReadOnlyList<FusionMethod> Ladder)>? ladders = null, int seed = 1, Action<int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        ladders ??= DefaultLadders;
        var random = new Random(seed);
        var prompts = records.SelectMany(r => Enumerable.Range(0, Math.Max(1, orders)).Select(o => o == 0 ? r : r with
        {
            Id = $"{r.Id}/order{o}",
            Chunks = r.Chunks.OrderBy(_ => random.Next()).ToList(),
        })).Select(r => r with { Kind = "calibration" }).ToList();
        var methods = ladders.SelectMany(l => l.Ladder).Distinct().ToList();
        // One token: only the first token's agreement and distribution are judged.
        var scores = await new FusionEvaluator(runtime, maxAnswerTokens: 1, contextOf, slice).EvaluateAsync(prompts, methods, progress, cancellationToken);
        var families = new List<MethodCalibration>();
        foreach (var (family, ladder) in ladders)
        {
            var rungs = ladder.Select(m => scores.Single(s => s.Method == m.Name)).Select(s => new CalibrationRung(s.Method, s.FirstTokenAgreement,
                s.MeanKlDivergence, s.RecomputedShare, s.MedianTtftSeconds, s.FirstTokenAgreement >= target.Agreement && s.MeanKlDivergence <= target.MeanKl)).ToList();
            families.Add(new MethodCalibration(family, rungs, rungs.FirstOrDefault(r => r.Meets)?.Method));
        }
        var passing = families.Where(f => f.Smallest is not null).Select(f => f.Ladder.First(r => r.Method == f.Smallest)).ToList();
        var fastest = passing.OrderBy(r => r.MedianTtftSeconds).FirstOrDefault();
        return new CalibrationResult(runtime.Model.Fingerprint, prompts.Count, target, families, fastest?.Method);
    }
}
