namespace ChunkKv.Inference.Tokenization.Jinja;

/// <summary>Jinja's tests (<c>x is defined</c>, <c>x is string</c>, <c>n is divisibleby 3</c> …); an unknown test is an error naming it.</summary>
internal static class TemplateIsTests
{
    public static bool Apply(string name, object? value, IReadOnlyList<object?> a, int line)
    {
        object? Arg() => a.Count > 0 ? a[0] : throw new TemplateException($"the test '{name}' needs an argument", line);
        return name switch
        {
            "defined" => value is not Undefined,
            "undefined" => value is Undefined,
            "none" => value is null,
            "boolean" => value is bool,
            "true" => value is true,
            "false" => value is false,
            "string" => value is string,
            "number" => value is long or double,
            "integer" => value is long,
            "float" => value is double,
            "mapping" => value is OrderedDictionary<string, object?> or Namespace,
            "sequence" => value is List<object?> or string or OrderedDictionary<string, object?>,
            "iterable" => value is List<object?> or string or OrderedDictionary<string, object?>,
            "callable" => value is Callable,
            "lower" => value is string s && s.Any(char.IsLetter) && !s.Any(char.IsUpper),
            "upper" => value is string u && u.Any(char.IsLetter) && !u.Any(char.IsLower),
            "odd" => value is long o ? o % 2 != 0 : throw NeedsInteger(),
            "even" => value is long e ? e % 2 == 0 : throw NeedsInteger(),
            "divisibleby" => value is long n && Arg() is long d ? d != 0 && n % d == 0 : throw NeedsInteger(),
            "eq" or "equalto" or "==" => TemplateValues.Equal(value, Arg()),
            "ne" or "!=" => !TemplateValues.Equal(value, Arg()),
            "lt" or "lessthan" or "<" => TemplateValues.Compare(value, Arg(), line) < 0,
            "le" or "<=" => TemplateValues.Compare(value, Arg(), line) <= 0,
            "gt" or "greaterthan" or ">" => TemplateValues.Compare(value, Arg(), line) > 0,
            "ge" or ">=" => TemplateValues.Compare(value, Arg(), line) >= 0,
            "in" => TemplateOperators.Contains(Arg(), value, line),
            "sameas" => ReferenceEquals(value, Arg()) || value is null && Arg() is null || value is bool x && Arg() is bool y && x == y,
            _ => throw new TemplateException($"unknown test '{name}'", line),
        };

        TemplateException NeedsInteger() => new($"the test '{name}' needs an integer, not {TemplateValues.TypeName(value)}", line);
    }
}
