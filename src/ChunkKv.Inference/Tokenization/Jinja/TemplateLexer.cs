using System.Text;

namespace ChunkKv.Inference.Tokenization.Jinja;

internal enum SegmentKind { Text, Output, Statement }

/// <summary>A piece of the template: literal text, an <c>{{ expression }}</c>, or a <c>{% statement %}</c>, with the tokens inside a tag.</summary>
internal sealed record Segment(SegmentKind Kind, string Text, IReadOnlyList<Token> Tokens, int Line);

internal enum TokenKind { Name, String, Integer, Float, Operator, End }

internal sealed record Token(TokenKind Kind, string Text, int Line)
{
    public bool Is(string op) => Kind == TokenKind.Operator && Text == op;

    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;

    public override string ToString() => Kind == TokenKind.End ? "the end of the tag" : $"'{Text}'";
}

/// <summary>
/// Cuts a template into text and tags with Jinja's whitespace rules as Hugging Face configures them for
/// chat templates: <c>trim_blocks</c> (the newline after a block tag goes), <c>lstrip_blocks</c> (spaces
/// and tabs before a block tag on its own line go), <c>-</c> strips all whitespace on its side, <c>+</c>
/// keeps it, and a single trailing newline of the template is dropped.
/// </summary>
internal static class TemplateLexer
{
    private static readonly string[] Operators =
        ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    public static List<Segment> Split(string source)
    {
        if (source.EndsWith('\n'))
        {
            source = source[..^1];
        }
        var segments = new List<Segment>();
        var text = new StringBuilder();
        var textLine = 1;
        var line = 1;
        var position = 0;
        var stripNextText = false; // a '-' closed the previous tag
        var trimNextNewline = false; // trim_blocks after a block or comment tag
        while (position < source.Length)
        {
            var open = NextTag(source, position);
            var literal = source[position..(open < 0 ? source.Length : open)];
            if (stripNextText)
            {
                literal = literal.TrimStart();
            }
            else if (trimNextNewline && literal.StartsWith('\n'))
            {
                literal = literal[1..];
            }
            else if (trimNextNewline && literal.StartsWith("\r\n", StringComparison.Ordinal))
            {
                literal = literal[2..];
            }
            text.Append(literal);
            line += Count(source, position, open < 0 ? source.Length : open);
            if (open < 0)
            {
                break;
            }
            var kind = source[open + 1];
            var modifier = open + 2 < source.Length ? source[open + 2] : '\0';
            var isBlock = kind is '%' or '#';
            if (modifier == '-')
            {
                TrimEnd(text);
            }
            else if (isBlock && modifier != '+')
            {
                LstripBlock(source, open, text);
            }
            Flush();
            var closer = kind switch { '{' => "}}", '%' => "%}", _ => "#}" };
            var bodyStart = open + 2 + (modifier is '-' or '+' ? 1 : 0);
            var close = kind == '#' ? source.IndexOf(closer, bodyStart, StringComparison.Ordinal) : FindCloser(source, bodyStart, closer, line);
            if (close < 0)
            {
                throw new TemplateException($"a tag opened with '{{{kind}' is never closed with '{closer}'", line);
            }
            var closeModifier = close > bodyStart ? source[close - 1] : '\0';
            var bodyEnd = closeModifier is '-' or '+' ? close - 1 : close;
            var tagLine = line;
            var body = source[bodyStart..Math.Max(bodyStart, bodyEnd)];
            line += Count(source, open, close + 2);
            if (kind != '#')
            {
                var tokens = Tokenize(body, tagLine);
                segments.Add(new Segment(kind == '{' ? SegmentKind.Output : SegmentKind.Statement, body, tokens, tagLine));
                if (kind == '%' && tokens.Count > 1 && tokens[0].IsName("raw"))
                {
                    throw new TemplateException("{% raw %} blocks are not supported", tagLine);
                }
            }
            stripNextText = closeModifier == '-';
            trimNextNewline = isBlock && closeModifier != '+';
            position = close + 2;
            textLine = line;
        }
        Flush();
        return segments;

        void Flush()
        {
            if (text.Length > 0)
            {
                segments.Add(new Segment(SegmentKind.Text, text.ToString(), [], textLine));
                text.Clear();
            }
        }
    }

    /// <summary>The next <c>{{</c>, <c>{%</c> or <c>{#</c> at or after <paramref name="from"/>; -1 when none.</summary>
    private static int NextTag(string source, int from)
    {
        for (var i = source.IndexOf('{', from); i >= 0 && i + 1 < source.Length; i = source.IndexOf('{', i + 1))
        {
            if (source[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Where the tag's closer starts, skipping string literals (a <c>'%}'</c> inside quotes does not close it).</summary>
    private static int FindCloser(string source, int from, string closer, int line)
    {
        for (var i = from; i + 1 < source.Length; i++)
        {
            var c = source[i];
            if (c is '\'' or '"')
            {
                i = EndOfString(source, i, line);
            }
            else if (c == closer[0] && source[i + 1] == closer[1])
            {
                return i;
            }
        }
        return -1;
    }

    private static int EndOfString(string source, int open, int line)
    {
        for (var i = open + 1; i < source.Length; i++)
        {
            if (source[i] == '\\')
            {
                i++;
            }
            else if (source[i] == source[open])
            {
                return i;
            }
        }
        throw new TemplateException("a string literal is never closed", line);
    }

    private static void TrimEnd(StringBuilder text)
    {
        var end = text.Length;
        while (end > 0 && char.IsWhiteSpace(text[end - 1]))
        {
            end--;
        }
        text.Length = end;
    }

    /// <summary>lstrip_blocks: spaces and tabs between the line's start and a block tag go, when nothing else is there (judged on the source).</summary>
    private static void LstripBlock(string source, int tag, StringBuilder text)
    {
        var start = tag;
        while (start > 0 && source[start - 1] is ' ' or '\t')
        {
            start--;
        }
        if (start > 0 && source[start - 1] != '\n')
        {
            return;
        }
        var end = text.Length;
        while (end > 0 && text[end - 1] is ' ' or '\t')
        {
            end--;
        }
        text.Length = end;
    }

    private static int Count(string source, int from, int to)
    {
        var n = 0;
        for (var i = from; i < to; i++)
        {
            n += source[i] == '\n' ? 1 : 0;
        }
        return n;
    }

    /// <summary>The tokens inside a tag: names, string and number literals, operators.</summary>
    public static List<Token> Tokenize(string body, int line)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < body.Length)
        {
            var c = body[i];
            if (char.IsWhiteSpace(c))
            {
                line += c == '\n' ? 1 : 0;
                i++;
            }
            else if (char.IsLetter(c) || c == '_')
            {
                var start = i;
                while (i < body.Length && (char.IsLetterOrDigit(body[i]) || body[i] == '_'))
                {
                    i++;
                }
                tokens.Add(new Token(TokenKind.Name, body[start..i], line));
            }
            else if (char.IsAsciiDigit(c))
            {
                var start = i;
                while (i < body.Length && (char.IsAsciiDigit(body[i]) || body[i] == '_'))
                {
                    i++;
                }
                var isFloat = i + 1 < body.Length && body[i] == '.' && char.IsAsciiDigit(body[i + 1]);
                if (isFloat)
                {
                    i++;
                    while (i < body.Length && char.IsAsciiDigit(body[i]))
                    {
                        i++;
                    }
                }
                tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, body[start..i].Replace("_", ""), line));
            }
            else if (c is '\'' or '"')
            {
                var end = EndOfString(body, i, line);
                tokens.Add(new Token(TokenKind.String, Unescape(body[(i + 1)..end], line), line));
                line += Count(body, i, end);
                i = end + 1;
            }
            else
            {
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(body, i, o, 0, o.Length) == 0)
                    ?? throw new TemplateException($"unexpected character '{c}' in a tag", line);
                tokens.Add(new Token(TokenKind.Operator, op, line));
                i += op.Length;
            }
        }
        tokens.Add(new Token(TokenKind.End, "", line));
        return tokens;
    }

    /// <summary>Python's string escapes (<c>\n</c>, <c>\t</c>, <c>\'</c>, <c>\uXXXX</c> …).</summary>
    private static string Unescape(string raw, int line)
    {
        if (!raw.Contains('\\'))
        {
            return raw;
        }
        var text = new StringBuilder(raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] != '\\' || i + 1 == raw.Length)
            {
                text.Append(raw[i]);
                continue;
            }
            var e = raw[++i];
            switch (e)
            {
                case 'n': text.Append('\n'); break;
                case 't': text.Append('\t'); break;
                case 'r': text.Append('\r'); break;
                case 'b': text.Append('\b'); break;
                case 'f': text.Append('\f'); break;
                case 'v': text.Append('\v'); break;
                case '0': text.Append('\0'); break;
                case '\\' or '\'' or '"': text.Append(e); break;
                case 'x' or 'u' or 'U':
                    var digits = e switch { 'x' => 2, 'u' => 4, _ => 8 };
                    if (raw.Length - i - 1 < digits
                        || !int.TryParse(raw.AsSpan(i + 1, digits), System.Globalization.NumberStyles.HexNumber, null, out var code))
                    {
                        throw new TemplateException($"a bad \\{e} escape in a string literal", line);
                    }
                    text.Append(char.ConvertFromUtf32(code));
                    i += digits;
                    break;
                default: text.Append('\\').Append(e); break; // Python keeps unknown escapes as written
            }
        }
        return text.ToString();
    }
}
