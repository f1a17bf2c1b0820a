namespace ChunkKv.Inference.Tokenization.Jinja;

/// <summary>Jinja's operators with Python's meaning: <c>//</c> floors, <c>%</c> takes the divisor's sign, <c>~</c> joins as text.</summary>
internal static class TemplateOperators
{
    public static object? Unary(string op, object? operand, int line) => op switch
    {
        "not" => !TemplateValues.Truthy(operand),
        "-" when operand is long l => -l,
        "-" when TemplateValues.IsNumber(operand) => -TemplateValues.Number(operand),
        "+" when TemplateValues.IsNumber(operand) => operand,
        _ => throw new TemplateException($"bad operand for unary '{op}': {TemplateValues.TypeName(operand)}", line),
    };

    public static object? Binary(string op, object? left, object? right, int line)
    {
        switch (op)
        {
            case "==":
                return TemplateValues.Equal(left, right);
            case "!=":
                return !TemplateValues.Equal(left, right);
            case "<":
                return TemplateValues.Compare(left, right, line) < 0;
            case ">":
                return TemplateValues.Compare(left, right, line) > 0;
            case "<=":
                return TemplateValues.Compare(left, right, line) <= 0;
            case ">=":
                return TemplateValues.Compare(left, right, line) >= 0;
            case "in":
                return Contains(right, left, line);
            case "not in":
                return !Contains(right, left, line);
            case "~":
                return TemplateValues.ToOutput(left) + TemplateValues.ToOutput(right);
        }
        if (op == "+" && left is string a && right is string b)
        {
            return a + b;
        }
        if (op == "+" && left is List<object?> p && right is List<object?> q)
        {
            return p.Concat(q).ToList();
        }
        if (op == "*" && (left is string && right is long || left is long && right is string))
        {
            var (text, times) = left is string t ? (t, (long)right!) : ((string)right!, (long)left!);
            return string.Concat(Enumerable.Repeat(text, (int)Math.Max(0, times)));
        }
        if (!TemplateValues.IsNumber(left) || !TemplateValues.IsNumber(right))
        {
            throw new TemplateException($"unsupported operand types for '{op}': {TemplateValues.TypeName(left)} and {TemplateValues.TypeName(right)}", line);
        }
        if (left is long or bool && right is long or bool && op is "+" or "-" or "*" or "//" or "%" or "**")
        {
            var (x, y) = ((long)TemplateValues.Number(left), (long)TemplateValues.Number(right));
            return op switch
            {
                "+" => x + y,
                "-" => x - y,
                "*" => x * y,
                "//" => y == 0 ? throw new TemplateException("integer division by zero", line) : FloorDiv(x, y),
                "%" => y == 0 ? throw new TemplateException("integer modulo by zero", line) : x - y * FloorDiv(x, y),
                _ when y >= 0 => (long)Math.Pow(x, y),
                _ => (object)Math.Pow(x, y), // a negative power is a float, as in Python
            };
        }
        var (u, v) = (TemplateValues.Number(left), TemplateValues.Number(right));
        if (v == 0 && op is "/" or "//" or "%")
        {
            throw new TemplateException("division by zero", line);
        }
        return op switch
        {
            "+" => u + v,
            "-" => u - v,
            "*" => u * v,
            "/" => u / v,
            "//" => Math.Floor(u / v),
            "%" => u - v * Math.Floor(u / v),
            "**" => Math.Pow(u, v),
            _ => throw new TemplateException($"unknown operator '{op}'", line),
        };
    }

    private static long FloorDiv(long x, long y)
    {
        var q = x / y;
        return (x % y != 0) && ((x < 0) != (y < 0)) ? q - 1 : q;
    }

    /// <summary>Python's <c>in</c>: a substring, a list's item, a dict's key.</summary>
    public static bool Contains(object? container, object? item, int line) => container switch
    {
        string s when item is string sub => s.Contains(sub, StringComparison.Ordinal),
        List<object?> list => list.Any(x => TemplateValues.Equal(x, item)),
        OrderedDictionary<string, object?> dict => item is string key && dict.ContainsKey(key),
        Undefined => false,
        _ => throw new TemplateException($"'in' needs a string, list or dict on its right, not {TemplateValues.TypeName(container)}", line),
    };
}
