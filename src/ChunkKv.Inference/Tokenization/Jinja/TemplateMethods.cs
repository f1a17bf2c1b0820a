using System.Globalization;
using System.Text;

namespace ChunkKv.Inference.Tokenization.Jinja;

/// <summary>Attribute and item access, slicing, and the Python string and dict methods chat templates call.</summary>
internal static class TemplateMethods
{
    /// <summary><c>x.name</c>: a dict's key, a namespace's attribute, a loop's field; undefined otherwise.</summary>
    public static object? Attribute(object? target, string name) => target switch
    {
        OrderedDictionary<string, object?> dict => dict.TryGetValue(name, out var value) ? value : Undefined.Of(name),
        Namespace ns => ns.Values.TryGetValue(name, out var value) ? value : Undefined.Of(name),
        List<object?> list when name == "length" => (long)list.Count,
        string s when name == "length" => (long)s.Length,
        _ => Undefined.Of(name),
    };

    /// <summary><c>x[i]</c>: negative indices count from the end; a missing key or index is undefined.</summary>
    public static object? Item(object? target, object? index, int line)
    {
        switch (target)
        {
            case OrderedDictionary<string, object?> dict:
                return index is string key && dict.TryGetValue(key, out var value) ? value : Undefined.Of(index?.ToString() ?? "none");
            case Namespace ns:
                return index is string k && ns.Values.TryGetValue(k, out var v) ? v : Undefined.Of(index?.ToString() ?? "none");
            case List<object?> list when index is long i:
                var at = i < 0 ? list.Count + i : i;
                return at >= 0 && at < list.Count ? list[(int)at] : Undefined.Of($"[{i}]");
            case string s when index is long j:
                var runes = s.EnumerateRunes().ToList();
                var pos = j < 0 ? runes.Count + j : j;
                return pos >= 0 && pos < runes.Count ? runes[(int)pos].ToString() : Undefined.Of($"[{j}]");
            case Undefined:
                return Undefined.Of(index?.ToString() ?? "none");
            default:
                throw new TemplateException($"cannot index {TemplateValues.TypeName(target)} with {TemplateValues.TypeName(index)}", line);
        }
    }

    /// <summary>Python's <c>x[start:stop:step]</c> on a list or a string.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step, int line)
    {
        var by = step switch { null => 1L, long l when l != 0 => l, _ => throw new TemplateException("a slice's step must be a non-zero integer", line) };
        List<object?> items = target switch
        {
            List<object?> list => list,
            string s => s.EnumerateRunes().Select(r => (object?)r.ToString()).ToList(),
            _ => throw new TemplateException($"cannot slice {TemplateValues.TypeName(target)}", line),
        };
        var n = (long)items.Count;
        long Bound(object? value, long fallback, long low, long high)
        {
            if (value is null)
            {
                return fallback;
            }
            if (value is not long v)
            {
                throw new TemplateException("slice bounds must be integers", line);
            }
            v = v < 0 ? v + n : v;
            return Math.Clamp(v, low, high);
        }
        var picked = new List<object?>();
        if (by > 0)
        {
            for (long i = Bound(start, 0, 0, n), end = Bound(stop, n, 0, n); i < end; i += by)
            {
                picked.Add(items[(int)i]);
            }
        }
        else
        {
            for (long i = Bound(start, n - 1, -1, n - 1), end = Bound(stop, -1, -1, n - 1); i > end; i += by)
            {
                picked.Add(items[(int)i]);
            }
        }
        return target is string ? string.Concat(picked.Cast<string>()) : picked;
    }

    /// <summary>A method of a string, dict or list; false when <paramref name="target"/> has none of that name.</summary>
    public static bool TryCall(object? target, string name, IReadOnlyList<object?> arguments, IReadOnlyDictionary<string, object?> keywords, int line, out object? result)
    {
        result = target switch
        {
            string s => StringMethod(s, name, arguments, keywords, line),
            OrderedDictionary<string, object?> dict => DictMethod(dict, name, arguments, line),
            List<object?> when name is "append" or "extend" or "pop" or "insert" or "remove" or "clear" or "sort" or "reverse" =>
                throw new TemplateException($"list.{name}() changes a list, which chat templates may not do", line),
            _ => NoMethod,
        };
        return !ReferenceEquals(result, NoMethod);
    }

    private static readonly object NoMethod = new();

    private static object? DictMethod(OrderedDictionary<string, object?> dict, string name, IReadOnlyList<object?> arguments, int line) => name switch
    {
        "items" => dict.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList(),
        "keys" => dict.Keys.Cast<object?>().ToList(),
        "values" => dict.Values.ToList(),
        "get" => arguments.Count is 1 or 2
            ? arguments[0] is string key && dict.TryGetValue(key, out var value) ? value : arguments.Count == 2 ? arguments[1] : null
            : throw new TemplateException("dict.get takes a key and an optional default", line),
        _ => dict.ContainsKey(name) ? NoMethod : throw new TemplateException($"dict has no method '{name}'", line),
    };

    private static object? StringMethod(string s, string name, IReadOnlyList<object?> a, IReadOnlyDictionary<string, object?> keywords, int line)
    {
        string Text(int i, string what) => i < a.Count && a[i] is string t ? t : throw new TemplateException($"str.{name} needs {what} as a string", line);
        string? Chars() => a.Count > 0 && a[0] is not null ? Text(0, "the characters") : null;
        switch (name)
        {
            case "startswith" or "endswith":
                var candidates = a.Count > 0 && a[0] is List<object?> options ? options.Select(o => o as string ?? "").ToList() : [Text(0, "a prefix")];
                return candidates.Any(c => name == "startswith" ? s.StartsWith(c, StringComparison.Ordinal) : s.EndsWith(c, StringComparison.Ordinal));
            case "strip":
                return Chars() is { } both ? s.Trim(both.ToCharArray()) : s.Trim();
            case "lstrip":
                return Chars() is { } left ? s.TrimStart(left.ToCharArray()) : s.TrimStart();
            case "rstrip":
                return Chars() is { } right ? s.TrimEnd(right.ToCharArray()) : s.TrimEnd();
            case "upper":
                return s.ToUpperInvariant();
            case "lower":
                return s.ToLowerInvariant();
            case "title":
                return Title(s);
            case "capitalize":
                return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();
            case "split" or "rsplit":
                var separator = a.Count > 0 ? a[0] as string : keywords.GetValueOrDefault("sep") as string;
                var most = (a.Count > 1 ? a[1] : keywords.GetValueOrDefault("maxsplit")) is long m ? m : -1;
                return Split(s, separator, most, fromRight: name == "rsplit", line).Cast<object?>().ToList();
            case "splitlines":
                return s.Split('\n').Select(l => (object?)l.TrimEnd('\r')).ToList() is var lines && s.EndsWith('\n') ? lines.SkipLast(1).ToList() : lines;
            case "replace":
                var replaced = Text(0, "the old text");
                var by = Text(1, "the new text");
                var count = a.Count > 2 && a[2] is long c ? c : -1;
                return count < 0 ? s.Replace(replaced, by, StringComparison.Ordinal) : ReplaceFirst(s, replaced, by, count);
            case "find":
                return (long)s.IndexOf(Text(0, "the text to find"), StringComparison.Ordinal);
            case "rfind":
                return (long)s.LastIndexOf(Text(0, "the text to find"), StringComparison.Ordinal);
            case "count":
                var sub = Text(0, "the text to count");
                return sub.Length == 0 ? s.Length + 1L : (long)((s.Length - s.Replace(sub, "", StringComparison.Ordinal).Length) / sub.Length);
            case "join":
                return string.Join(s, TemplateValues.Iterate(a.Count > 0 ? a[0] : null, line).Select(TemplateValues.ToOutput));
            case "isdigit":
                return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha":
                return s.Length > 0 && s.All(char.IsLetter);
            case "isspace":
                return s.Length > 0 && s.All(char.IsWhiteSpace);
            case "isupper":
                return s.Any(char.IsLetter) && !s.Any(char.IsLower);
            case "islower":
                return s.Any(char.IsLetter) && !s.Any(char.IsUpper);
            default:
                throw new TemplateException($"the string method '{name}' is not supported", line);
        }
    }

    /// <summary>Python's <c>str.split</c>/<c>rsplit</c>: no separator splits on runs of whitespace and drops empty pieces; past <paramref name="most"/> splits the rest stays whole.</summary>
    private static List<string> Split(string s, string? separator, long most, bool fromRight, int line)
    {
        if (separator is { Length: 0 })
        {
            throw new TemplateException("str.split's separator is empty", line);
        }
        if (fromRight)
        {
            // rsplit is split on the reversed text, each piece and their order reversed back.
            static string Reverse(string t) => string.Concat(t.EnumerateRunes().Reverse().Select(r => r.ToString()));
            var pieces = Split(Reverse(s), separator is null ? null : Reverse(separator), most, fromRight: false, line);
            pieces.Reverse();
            return pieces.Select(Reverse).ToList();
        }
        if (separator is not null)
        {
            return most < 0 ? [.. s.Split(separator)] : [.. s.Split(separator, (int)Math.Min(int.MaxValue, most + 1))];
        }
        var words = new List<string>();
        var i = 0;
        while (true)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i]))
            {
                i++;
            }
            if (i == s.Length)
            {
                return words;
            }
            if (most >= 0 && words.Count == most)
            {
                words.Add(s[i..]);
                return words;
            }
            var start = i;
            while (i < s.Length && !char.IsWhiteSpace(s[i]))
            {
                i++;
            }
            words.Add(s[start..i]);
        }
    }

    /// <summary>The first <paramref name="count"/> occurrences of <paramref name="old"/> replaced, as Python's <c>str.replace</c> with a count.</summary>
    internal static string ReplaceFirst(string s, string old, string by, long count)
    {
        var text = new StringBuilder();
        var position = 0;
        for (var done = 0L; done < count; done++)
        {
            var at = s.IndexOf(old, position, StringComparison.Ordinal);
            if (at < 0)
            {
                break;
            }
            text.Append(s, position, at - position).Append(by);
            position = at + old.Length;
        }
        return text.Append(s, position, s.Length - position).ToString();
    }

    /// <summary>Python's <c>str.title</c>: each run of letters starts upper case, the rest lower.</summary>
    public static string Title(string s)
    {
        var text = new StringBuilder(s.Length);
        var inWord = false;
        foreach (var c in s)
        {
            text.Append(inWord ? char.ToLower(c, CultureInfo.InvariantCulture) : char.ToUpper(c, CultureInfo.InvariantCulture));
            inWord = char.IsLetter(c);
        }
        return text.ToString();
    }
}
