using System.Globalization;
using ChunkKv.Fusion;

namespace ChunkKv.Evaluation;

/// <summary>What a calibration says of one method: whether it may serve, and if not, why, in figures.</summary>
/// <param name="Problem">Null when it passed (or was not calibrated: <c>full</c>, a family not on the ladders).</param>
public sealed record CalibrationVerdict(string Method, string? Problem)
{
    public bool Passed => Problem is null;
}

/// <summary>
/// Judges a method by a calibration: a method of a calibrated family passes when the family met the
/// target at some budget and the method's budget is at least that smallest one (a larger budget
/// recomputes more and only comes closer to full). Budgets compare by their first figure
/// (<c>epic:16</c>'s tokens, <c>cacheblend:0.15</c>'s and <c>query:0.15:16</c>'s share).
/// </summary>
public static class CalibrationJudgement
{
    public static CalibrationVerdict Judge(CalibrationResult calibration, FusionMethod method)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(method);
        var family = calibration.Methods.FirstOrDefault(f => f.Family == Family(method.Name));
        if (family is null || family.Ladder.Count == 0)
        {
            return new CalibrationVerdict(method.Name, null);
        }
        var target = $"target: agreement {Percent(calibration.Target.Agreement)}, mean KL <= {calibration.Target.MeanKl:0.####}";
        if (family.Smallest is null)
        {
            var best = family.Ladder.MaxBy(r => r.Agreement)!;
            return new CalibrationVerdict(method.Name,
                $"{family.Family} met the calibration at no budget: at best {best.Method}, agreement {Percent(best.Agreement)}, mean KL {best.MeanKl:0.####} ({target})"
                + (calibration.Default is { } fallback ? $"; calibrated default: {fallback}" : ""));
        }
        var smallest = family.Ladder.First(r => r.Method == family.Smallest);
        if (Budget(method.Name) is { } budget && Budget(smallest.Method) is { } needed && budget < needed)
        {
            var nearest = family.Ladder.Where(r => Budget(r.Method) <= budget).MaxBy(r => Budget(r.Method));
            var measured = nearest is null ? "" : $"{nearest.Method} measured agreement {Percent(nearest.Agreement)}, mean KL {nearest.MeanKl:0.####}; ";
            return new CalibrationVerdict(method.Name,
                $"{method.Name} is below the calibrated budget {smallest.Method} ({measured}{target})");
        }
        return new CalibrationVerdict(method.Name, null);
    }

    /// <summary>The family a method's name starts with: "cacheblend" of "cacheblend:0.15".</summary>
    public static string Family(string name) => name.Split(':')[0];

    private static double? Budget(string name) =>
        name.Split(':') is [_, var first, ..] && double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static string Percent(double share) => (share * 100).ToString("0.#", CultureInfo.InvariantCulture) + " %";
}
