using System.Globalization;
using System.Text;

namespace ChunkKv.Inference.Tokenization.Jinja;

/// <summary>Jinja's filters that chat templates use, with Jinja's arguments; an unknown filter is an error naming it.</summary>
internal static class TemplateFilters
{
    public static object? Apply(string name, object? value, IReadOnlyList<object?> a, IReadOnlyDictionary<string, object?> k, int line)
    {
        object? Arg(int index, string keyword, object? fallback) => index < a.Count ? a[index] : k.TryGetValue(keyword, out var v) ? v : fallback;
        bool Flag(int index, string keyword) => TemplateValues.Truthy(Arg(index, keyword, false));
        List<object?> Items() => value is OrderedDictionary<string, object?> or List<object?> or string or Undefined
            ? TemplateValues.Iterate(value, line)
            : throw new TemplateException($"the filter '{name}' needs a sequence, not {TemplateValues.TypeName(value)}", line);
        string Text() => value is string s ? s : TemplateValues.ToOutput(value);

        switch (name)
        {
            case "trim":
                return Arg(0, "chars", null) is string chars ? Text().Trim(chars.ToCharArray()) : Text().Trim();
            case "upper":
                return Text().ToUpperInvariant();
            case "lower":
                return Text().ToLowerInvariant();
            case "title":
                return TemplateMethods.Title(Text());
            case "capitalize":
                var t = Text();
                return t.Length == 0 ? t : char.ToUpperInvariant(t[0]) + t[1..].ToLowerInvariant();
            case "length" or "count":
                return value switch
                {
                    string s => (long)s.EnumerateRunes().Count(),
                    List<object?> l => (long)l.Count,
                    OrderedDictionary<string, object?> d => (long)d.Count,
                    Undefined => 0L,
                    _ => throw new TemplateException($"the filter '{name}' needs a string, list or dict, not {TemplateValues.TypeName(value)}", line),
                };
            case "tojson":
                var indent = Arg(0, "indent", null) switch { null => (int?)null, long i => (int)i, var other => throw new TemplateException($"tojson's indent must be an integer, not {TemplateValues.TypeName(other)}", line) };
                var separators = Arg(2, "separators", null) as List<object?>;
                return TemplateJson.Write(value, indent, separators?[0] as string ?? (indent is null ? ", " : ","), separators?[1] as string ?? ": ", Flag(3, "sort_keys"));
            case "string":
                return Text();
            case "safe":
                return value;
            case "e" or "escape":
                return TemplateValues.Escape(Text());
            case "default" or "d":
                var useDefault = value is Undefined || Flag(1, "boolean") && !TemplateValues.Truthy(value);
                return useDefault ? Arg(0, "default_value", "") : value;
            case "first":
                return Items() is { Count: > 0 } f ? f[0] : Undefined.Of("first");
            case "last":
                return Items() is { Count: > 0 } l2 ? l2[^1] : Undefined.Of("last");
            case "list":
                return Items().ToList();
            case "reverse":
                return value is string r ? string.Concat(r.EnumerateRunes().Reverse().Select(x => x.ToString())) : Enumerable.Reverse(Items()).ToList();
            case "join":
                var attribute = Arg(1, "attribute", null) as string;
                return string.Join(Arg(0, "d", "") as string ?? "", Items().Select(x => TemplateValues.ToOutput(attribute is null ? x : TemplateMethods.Attribute(x, attribute))));
            case "items":
                return value switch
                {
                    OrderedDictionary<string, object?> d => d.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList(),
                    Undefined => new List<object?>(),
                    _ => throw new TemplateException($"the filter 'items' needs a dict, not {TemplateValues.TypeName(value)}", line),
                };
            case "dictsort":
                return value is OrderedDictionary<string, object?> ds
                    ? ds.OrderBy(p => p.Key, Flag(0, "case_sensitive") ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase)
                        .Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList()
                    : throw new TemplateException($"the filter 'dictsort' needs a dict, not {TemplateValues.TypeName(value)}", line);
            case "sort":
                return Sort(Items(), Flag(0, "reverse"), Flag(1, "case_sensitive"), Arg(2, "attribute", null) as string, line);
            case "unique":
                var unique = new List<object?>();
                foreach (var item in Items().Where(item => !unique.Any(u => TemplateValues.Equal(u, item))))
                {
                    unique.Add(item);
                }
                return unique;
            case "map":
                if (k.TryGetValue("attribute", out var mapped) && mapped is string attr)
                {
                    return Items().Select(x => TemplateMethods.Attribute(x, attr) is Undefined && k.TryGetValue("default", out var dv) ? dv : TemplateMethods.Attribute(x, attr)).ToList();
                }
                return a.Count > 0 && a[0] is string filterName
                    ? Items().Select(x => Apply(filterName, x, a.Skip(1).ToList(), new Dictionary<string, object?>(), line)).ToList()
                    : throw new TemplateException("map needs attribute= or a filter's name", line);
            case "select" or "reject":
                return Items().Where(x => (a.Count == 0 ? TemplateValues.Truthy(x)
                    : TemplateIsTests.Apply(a[0] as string ?? "", x, a.Skip(1).ToList(), line)) == (name == "select")).ToList();
            case "selectattr" or "rejectattr":
                var field = a.Count > 0 && a[0] is string fieldName ? fieldName : throw new TemplateException($"{name} needs an attribute's name", line);
                return Items().Where(x =>
                {
                    var v = TemplateMethods.Attribute(x, field);
                    var passes = a.Count < 2 ? TemplateValues.Truthy(v) : TemplateIsTests.Apply(a[1] as string ?? "", v, a.Skip(2).ToList(), line);
                    return passes == (name == "selectattr");
                }).ToList();
            case "int":
                return ToInteger(value, Arg(0, "default", 0L));
            case "float":
                return value switch
                {
                    double d => d,
                    long or bool => TemplateValues.Number(value),
                    string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
                    _ => Arg(0, "default", 0.0),
                };
            case "abs":
                return value is long n ? Math.Abs(n) : TemplateValues.IsNumber(value) ? (object)Math.Abs(TemplateValues.Number(value))
                    : throw new TemplateException($"abs needs a number, not {TemplateValues.TypeName(value)}", line);
            case "round":
                var digits = Arg(0, "precision", 0L) is long p ? (int)p : 0;
                var method = Arg(1, "method", "common") as string;
                var number = TemplateValues.Number(value);
                var scale = Math.Pow(10, digits);
                return method switch
                {
                    "floor" => Math.Floor(number * scale) / scale,
                    "ceil" => Math.Ceiling(number * scale) / scale,
                    _ => Math.Round(number, digits, MidpointRounding.AwayFromZero),
                };
            case "sum":
                var total = TemplateValues.Number(Arg(1, "start", 0L));
                var allIntegers = Arg(1, "start", 0L) is long;
                foreach (var item in Items())
                {
                    var x = Arg(0, "attribute", null) is string sa ? TemplateMethods.Attribute(item, sa) : item;
                    allIntegers &= x is long;
                    total += TemplateValues.Number(x);
                }
                return allIntegers ? (long)total : total;
            case "min" or "max":
                var values = Items();
                if (values.Count == 0)
                {
                    return Undefined.Of(name);
                }
                return values.Aggregate((x, y) => (TemplateValues.Compare(x, y, line, Flag(0, "case_sensitive")) < 0) == (name == "min") ? x : y);
            case "replace":
                var old = Arg(0, "old", null) as string ?? throw new TemplateException("replace needs the old text", line);
                var by = Arg(1, "new", null) as string ?? throw new TemplateException("replace needs the new text", line);
                var times = Arg(2, "count", null);
                return times is long c && c >= 0 ? TemplateMethods.ReplaceFirst(Text(), old, by, c) : Text().Replace(old, by, StringComparison.Ordinal);
            case "indent":
                return Indent(Text(), Arg(0, "width", 4L), Flag(1, "first"), Flag(2, "blank"));
            case "wordcount":
                return (long)Text().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            case "attr":
                return TemplateMethods.Attribute(value, Arg(0, "name", "") as string ?? "");
            case "batch" or "groupby" or "truncate" or "center" or "format" or "slice" or "urlencode" or "xmlattr" or "wordwrap" or "filesizeformat" or "pprint" or "random" or "striptags" or "urlize":
                throw new TemplateException($"the filter '{name}' is not supported by this renderer", line);
            default:
                throw new TemplateException($"unknown filter '{name}'", line);
        }
    }

    private static object? ToInteger(object? value, object? fallback) => value switch
    {
        long l => l,
        bool b => b ? 1L : 0L,
        double d => (long)Math.Truncate(d),
        string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => (long)Math.Truncate(d),
        _ => fallback,
    };

    private static List<object?> Sort(List<object?> items, bool reverse, bool caseSensitive, string? attribute, int line)
    {
        object? Key(object? x) => attribute is null ? x : TemplateMethods.Attribute(x, attribute);
        var sorted = items.ToList();
        // A stable sort, as Python's is: equal items keep their order.
        var ordered = sorted.Select((x, i) => (x, i)).OrderBy(p => p, Comparer<(object? X, int I)>.Create((p, q) =>
        {
            var c = TemplateValues.Compare(Key(p.X), Key(q.X), line, caseSensitive);
            return c != 0 ? (reverse ? -c : c) : p.I.CompareTo(q.I);
        }));
        return ordered.Select(p => p.x).ToList();
    }

    /// <summary>Jinja's <c>indent</c>: every line but the first (unless <paramref name="first"/>) gets the indent; blank lines only when <paramref name="blank"/>.</summary>
    private static string Indent(string text, object? width, bool first, bool blank)
    {
        var pad = width is string s ? s : new string(' ', (int)(width is long w ? w : 4));
        var lines = text.Split('\n');
        var result = new StringBuilder();
        for (var i = 0; i < lines.Length; i++)
        {
            if (i > 0)
            {
                result.Append('\n');
            }
            var indentIt = (i > 0 || first) && (blank || lines[i].Trim().Length > 0);
            result.Append(indentIt ? pad : "").Append(lines[i]);
        }
        return result.ToString();
    }
}
