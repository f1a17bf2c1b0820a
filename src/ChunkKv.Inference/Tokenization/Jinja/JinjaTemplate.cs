using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Tokenization.Jinja;

/// <summary>
/// A Jinja template of the subset Hugging Face chat templates use, parsed once and rendered many times.
/// No maintained .NET Jinja engine is served, so this is ours; tests hold it to @huggingface/jinja (the
/// renderer of transformers.js) on real templates. Globals are those transformers gives chat templates:
/// <c>raise_exception</c>, <c>strftime_now</c>, <c>namespace</c>, <c>range</c>, <c>dict</c>.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly IReadOnlyList<Node> nodes;

    private JinjaTemplate(IReadOnlyList<Node> nodes) => this.nodes = nodes;

    /// <exception cref="TemplateException">A syntax error or a construct outside the subset, named with its line.</exception>
    public static JinjaTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new JinjaTemplate(TemplateParser.Parse(source));
    }

    /// <summary>The template's text for these variables (JSON values: objects, arrays, strings, numbers, booleans, null).</summary>
    /// <param name="now">What <c>strftime_now</c> formats; null: the local time of the call.</param>
    /// <exception cref="TemplateRaisedException">The template refused its input with <c>raise_exception</c>.</exception>
    /// <exception cref="TemplateException">The template used a value the wrong way.</exception>
    public string Render(IEnumerable<KeyValuePair<string, JsonNode?>> variables, DateTime? now = null)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var globals = Globals(now ?? DateTime.Now);
        foreach (var (name, value) in variables)
        {
            globals.Set(name, TemplateValues.FromJson(value));
        }
        return new TemplateInterpreter(globals).Render(nodes);
    }

    private static Scope Globals(DateTime now)
    {
        var globals = new Scope(null);
        globals.Set("raise_exception", new Callable((a, _) =>
            throw new TemplateRaisedException(a.Count > 0 ? TemplateValues.ToOutput(a[0]) : "the template raised an exception", 0)));
        globals.Set("strftime_now", new Callable((a, _) => Strftime(now, a.Count > 0 && a[0] is string f ? f : "")));
        globals.Set("namespace", new Callable((a, k) =>
        {
            var ns = new Namespace();
            foreach (var (key, value) in k)
            {
                ns.Values[key] = value;
            }
            return ns;
        }));
        globals.Set("dict", new Callable((_, k) => new OrderedDictionary<string, object?>(k)));
        globals.Set("range", new Callable((a, _) =>
        {
            var bounds = a.Select(x => x is long l ? l : throw new TemplateException("range takes integers", 0)).ToList();
            var (start, stop, step) = bounds.Count switch
            {
                1 => (0L, bounds[0], 1L),
                2 => (bounds[0], bounds[1], 1L),
                3 when bounds[2] != 0 => (bounds[0], bounds[1], bounds[2]),
                _ => throw new TemplateException("range takes one to three integers, the step not 0", 0),
            };
            var values = new List<object?>();
            for (var i = start; step > 0 ? i < stop : i > stop; i += step)
            {
                values.Add(i);
            }
            return values;
        }));
        return globals;
    }

    /// <summary>Python's <c>strftime</c> for the directives templates use (<c>%d %b %Y</c> in Llama 3.1's).</summary>
    private static string Strftime(DateTime t, string format)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 == format.Length)
            {
                text.Append(format[i]);
                continue;
            }
            var directive = format[++i];
            var noPad = directive == '-' && i + 1 < format.Length;
            if (noPad)
            {
                directive = format[++i];
            }
            text.Append(directive switch
            {
                'Y' => t.ToString("yyyy", c),
                'y' => t.ToString("yy", c),
                'm' => noPad ? t.Month.ToString(c) : t.ToString("MM", c),
                'd' => noPad ? t.Day.ToString(c) : t.ToString("dd", c),
                'e' => t.Day.ToString(c).PadLeft(2),
                'H' => noPad ? t.Hour.ToString(c) : t.ToString("HH", c),
                'I' => noPad ? (t.Hour % 12 == 0 ? 12 : t.Hour % 12).ToString(c) : t.ToString("hh", c),
                'M' => t.ToString("mm", c),
                'S' => t.ToString("ss", c),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'b' => t.ToString("MMM", c),
                'B' => t.ToString("MMMM", c),
                'a' => t.ToString("ddd", c),
                'A' => t.ToString("dddd", c),
                'j' => t.DayOfYear.ToString("000", c),
                '%' => "%",
                _ => "%" + directive,
            });
        }
        return text.ToString();
    }
}
