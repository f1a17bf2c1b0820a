using System.Globalization;
using System.Net;
using System.Text;

namespace ChunkKv.Evaluation;

/// <summary>
/// One self-contained HTML page of an evaluation: the table per method and question kind, and an
/// SVG chart of each method's TTFT speed-up over <c>full</c> against its score (the set's metric), one point per kind.
/// </summary>
public static class EvalReport
{
    private const string Style = "body{font:14px system-ui,sans-serif;margin:24px;color:#1d2430}table{border-collapse:collapse}"
        + "td,th{padding:3px 10px;border-bottom:1px solid #e3e6ea;text-align:right}td:first-child,th:first-child,td:nth-child(2){text-align:left}";

    public static string Html(string title, IReadOnlyList<MethodScore> scores)
    {
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"""
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>{Escape(title)}</title>
            <style>{Style}</style>
            </head><body><h1>{Escape(title)}</h1>
            <table><tr><th>method</th><th>kind</th><th>n</th><th>metric</th><th>score</th><th>exact match</th><th>agreement with full</th><th>KL from full</th>
            <th>same answer as full</th><th>recomputed</th><th>median TTFT</th></tr>
            """);
        foreach (var s in scores)
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{Escape(s.Method)}</td><td>{Escape(s.Kind)}</td><td>{s.Questions}</td><td>{Escape(s.Metric)}</td><td>{s.Accuracy:P1}</td><td>{s.ExactMatch:P1}</td><td>{s.FirstTokenAgreement:P1}</td><td>{s.MeanKlDivergence:F4}</td><td>{s.SameAnswerAsFull:P1}</td><td>{s.RecomputedShare:P1}</td><td>{s.MedianTtftSeconds * 1000:F2} ms</td></tr>\n");
        }
        html.Append("</table>\n<h2>TTFT speed-up over full against the score</h2>\n");
        html.Append(Chart(scores));
        html.Append("</body></html>\n");
        return html.ToString();
    }

    private static string Chart(IReadOnlyList<MethodScore> scores)
    {
        const int width = 640, height = 360, pad = 50;
        var full = scores.Where(s => s.Method == "full").ToDictionary(s => s.Kind, s => s.MedianTtftSeconds);
        var points = scores.Where(s => full.ContainsKey(s.Kind) && s.MedianTtftSeconds > 0)
            .Select(s => (s.Method, s.Kind, Speedup: full[s.Kind] / s.MedianTtftSeconds, s.Accuracy)).ToList();
        var maxSpeedup = Math.Max(2, points.Count == 0 ? 2 : points.Max(p => p.Speedup) * 1.1);
        double X(double speedup) => pad + (width - 2 * pad) * Math.Log(speedup) / Math.Log(maxSpeedup);
        double Y(double accuracy) => height - pad - (height - 2 * pad) * accuracy;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">""");
        svg.Append(CultureInfo.InvariantCulture, $"""<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>""");
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{width / 2}" y="{height - 12}" text-anchor="middle">TTFT speed-up over full (log scale, up to {maxSpeedup:F0}x)</text>""");
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" text-anchor="middle">score</text>""");
        foreach (var tick in new[] { 0.0, 0.25, 0.5, 0.75, 1.0 })
        {
            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{pad - 6}" y="{Y(tick) + 4:F1}" text-anchor="end">{tick:P0}</text>""");
        }
        foreach (var p in points)
        {
            var color = p.Kind == "cross" ? "#e4572e" : "#2f6fdb";
            svg.Append(CultureInfo.InvariantCulture,
                $"""<circle cx="{X(p.Speedup):F1}" cy="{Y(p.Accuracy):F1}" r="4" fill="{color}"><title>{Escape(p.Method)} ({Escape(p.Kind)}): {p.Speedup:F1}x, {p.Accuracy:P1}</title></circle><text x="{X(p.Speedup) + 6:F1}" y="{Y(p.Accuracy) - 4:F1}" fill="{color}">{Escape(p.Method)}</text>""");
        }
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{width - pad}" y="{pad - 20}" text-anchor="end"><tspan fill="#2f6fdb">● single-chunk</tspan>  <tspan fill="#e4572e">● cross-chunk</tspan></text>""");
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}
