using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Tokenization.Jinja;

/// <summary>A name or attribute that is not there: empty when printed, false when tested, iterable as nothing.</summary>
internal sealed class Undefined(string name)
{
    public string Name { get; } = name;

    public static Undefined Of(string name) => new(name);
}

/// <summary><c>namespace(…)</c>: the one mutable object of a template, so a loop can set what survives it.</summary>
internal sealed class Namespace
{
    public Dictionary<string, object?> Values { get; } = new(StringComparer.Ordinal);
}

/// <summary>A function a template can call: globals, macros, <c>loop.cycle</c>.</summary>
internal delegate object? Callable(IReadOnlyList<object?> arguments, IReadOnlyDictionary<string, object?> keywords);

/// <summary>
/// Template values are plain .NET objects: <c>null</c> (none), <see cref="Undefined"/>, <see cref="bool"/>,
/// <see cref="long"/>, <see cref="double"/>, <see cref="string"/>, <see cref="List{T}"/> (lists and tuples),
/// <see cref="OrderedDictionary{TKey,TValue}"/> with string keys (dicts keep their order, as Python's do),
/// <see cref="Namespace"/> and <see cref="Callable"/>. Printing follows @huggingface/jinja, the renderer
/// transformers.js uses: none and undefined print nothing, booleans <c>true</c>/<c>false</c>, lists and
/// dicts as JSON.
/// </summary>
internal static class TemplateValues
{
    public static object? FromJson(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => new OrderedDictionary<string, object?>(o.Select(p => KeyValuePair.Create(p.Key, FromJson(p.Value)))),
        JsonArray a => a.Select(FromJson).ToList(),
        JsonValue v when v.TryGetValue(out bool b) => b,
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonValue v when v.TryGetValue(out long l) => l,
        JsonValue v when v.TryGetValue(out double d) => d,
        JsonValue v => v.ToJsonString(),
        _ => throw new ArgumentException($"not a JSON value: {node.GetType().Name}", nameof(node)),
    };

    public static bool Truthy(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        OrderedDictionary<string, object?> d => d.Count > 0,
        _ => true,
    };

    public static string ToOutput(object? value) => value switch
    {
        null or Undefined => "",
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatFloat(d),
        List<object?> or OrderedDictionary<string, object?> or Namespace => TemplateJson.Write(value, null, ", ", ": ", false),
        Callable => "<function>",
        _ => value.ToString() ?? "",
    };

    /// <summary>A float as Python writes it: <c>1.0</c>, <c>2.5</c>, <c>1e-05</c>.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }
        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == Math.Floor(d) && Math.Abs(d) < 1e16)
        {
            return d.ToString("F1", CultureInfo.InvariantCulture);
        }
        return d.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
    }

    public static string TypeName(object? value) => value switch
    {
        null => "none",
        Undefined u => $"undefined ('{u.Name}')",
        bool => "boolean",
        long => "integer",
        double => "float",
        string => "string",
        List<object?> => "list",
        OrderedDictionary<string, object?> => "dict",
        Namespace => "namespace",
        Callable => "function",
        _ => value.GetType().Name,
    };

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static double Number(object? value) => value switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new InvalidCastException(),
    };

    /// <summary>Python's <c>==</c>: numbers across types (and booleans as 0/1), lists and dicts by content.</summary>
    public static bool Equal(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            return a is long la && b is long lb ? la == lb : Number(a) == Number(b);
        }
        return (a, b) switch
        {
            (null, null) => true,
            (Undefined, Undefined) => true,
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Equal(p.First, p.Second)),
            (OrderedDictionary<string, object?> x, OrderedDictionary<string, object?> y) =>
                x.Count == y.Count && x.All(p => y.TryGetValue(p.Key, out var v) && Equal(p.Value, v)),
            _ => ReferenceEquals(a, b),
        };
    }

    /// <summary>Python's ordering of two numbers or two strings; anything else cannot be ordered.</summary>
    public static int Compare(object? a, object? b, int line, bool caseSensitive = true)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            return Number(a).CompareTo(Number(b));
        }
        if (a is string x && b is string y)
        {
            return caseSensitive ? string.CompareOrdinal(x, y) : string.CompareOrdinal(x.ToLowerInvariant(), y.ToLowerInvariant());
        }
        if (a is List<object?> p && b is List<object?> q)
        {
            for (var i = 0; i < Math.Min(p.Count, q.Count); i++)
            {
                var c = Compare(p[i], q[i], line, caseSensitive);
                if (c != 0)
                {
                    return c;
                }
            }
            return p.Count.CompareTo(q.Count);
        }
        throw new TemplateException($"cannot order {TypeName(a)} and {TypeName(b)}", line);
    }

    /// <summary>What a <c>for</c> loop walks: a list's items, a dict's keys, a string's characters; undefined is empty.</summary>
    public static List<object?> Iterate(object? value, int line) => value switch
    {
        List<object?> l => l,
        OrderedDictionary<string, object?> d => d.Keys.Cast<object?>().ToList(),
        string s => s.EnumerateRunes().Select(r => (object?)r.ToString()).ToList(),
        Undefined => [],
        _ => throw new TemplateException($"cannot iterate over {TypeName(value)}", line),
    };

    public static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            escaped.Append(c switch { '&' => "&amp;", '<' => "&lt;", '>' => "&gt;", '"' => "&#34;", '\'' => "&#39;", _ => c.ToString() });
        }
        return escaped.ToString();
    }
}
