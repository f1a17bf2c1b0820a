using System.Globalization;
using System.Text;

namespace ChunkKv.Inference.Tokenization.Jinja;

/// <summary>
/// The <c>tojson</c> filter as transformers defines it: Python's <c>json.dumps</c> with
/// <c>ensure_ascii=False</c> (text stays as written, control characters escaped), separators
/// <c>", "</c> and <c>": "</c> (<c>","</c> between items when indented), keys in their order unless sorted.
/// </summary>
internal static class TemplateJson
{
    public static string Write(object? value, int? indent, string itemSeparator, string keySeparator, bool sortKeys)
    {
        var text = new StringBuilder();
        Append(text, value, indent, itemSeparator, keySeparator, sortKeys, 0);
        return text.ToString();
    }

    private static void Append(StringBuilder text, object? value, int? indent, string itemSeparator, string keySeparator, bool sortKeys, int depth)
    {
        switch (value)
        {
            case null or Undefined:
                text.Append("null");
                break;
            case bool b:
                text.Append(b ? "true" : "false");
                break;
            case long l:
                text.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                text.Append(double.IsFinite(d) ? TemplateValues.FormatFloat(d) : double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
                break;
            case string s:
                AppendString(text, s);
                break;
            case List<object?> list:
                AppendItems(text, '[', ']', list.Count, list.Select<object?, Action>(item => () => Append(text, item, indent, itemSeparator, keySeparator, sortKeys, depth + 1)),
                    indent, itemSeparator, depth);
                break;
            case OrderedDictionary<string, object?> dict:
                AppendObject(text, dict, indent, itemSeparator, keySeparator, sortKeys, depth);
                break;
            case Namespace ns:
                AppendObject(text, new OrderedDictionary<string, object?>(ns.Values), indent, itemSeparator, keySeparator, sortKeys, depth);
                break;
            default:
                throw new TemplateException($"tojson cannot write a {TemplateValues.TypeName(value)}", 0);
        }
    }

    private static void AppendObject(StringBuilder text, OrderedDictionary<string, object?> dict, int? indent, string itemSeparator, string keySeparator, bool sortKeys, int depth)
    {
        IEnumerable<KeyValuePair<string, object?>> pairs = sortKeys ? dict.OrderBy(p => p.Key, StringComparer.Ordinal) : dict;
        AppendItems(text, '{', '}', dict.Count, pairs.Select<KeyValuePair<string, object?>, Action>(p => () =>
        {
            AppendString(text, p.Key);
            text.Append(keySeparator);
            Append(text, p.Value, indent, itemSeparator, keySeparator, sortKeys, depth + 1);
        }), indent, itemSeparator, depth);
    }

    private static void AppendItems(StringBuilder text, char open, char close, int count, IEnumerable<Action> items, int? indent, string itemSeparator, int depth)
    {
        text.Append(open);
        if (count == 0)
        {
            text.Append(close);
            return;
        }
        var first = true;
        foreach (var item in items)
        {
            if (!first)
            {
                text.Append(itemSeparator);
            }
            first = false;
            if (indent is { } width)
            {
                text.Append('\n').Append(' ', width * (depth + 1));
            }
            item();
        }
        if (indent is { } w)
        {
            text.Append('\n').Append(' ', w * depth);
        }
        text.Append(close);
    }

    private static void AppendString(StringBuilder text, string s)
    {
        text.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                case < ' ': text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: text.Append(c); break;
            }
        }
        text.Append('"');
    }
}
