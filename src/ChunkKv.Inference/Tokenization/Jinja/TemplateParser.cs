using System.Globalization;

namespace ChunkKv.Inference.Tokenization.Jinja;

/// <summary>
/// Jinja's grammar for the subset chat templates use: <c>if/elif/else</c>, <c>for … in … [if …]</c> with
/// <c>else</c>, <c>set</c> (names, tuples, namespace attributes, blocks), <c>macro</c>, <c>filter</c> blocks,
/// <c>break/continue</c> and transformers' <c>generation</c> tag; expressions with Jinja's precedence
/// (filters and tests bind tighter than arithmetic, <c>~</c> tighter than <c>+</c>). Anything else is a
/// <see cref="TemplateException"/> naming the construct.
/// </summary>
internal sealed class TemplateParser
{
    private static readonly HashSet<string> Unsupported = ["call", "include", "import", "from", "extends", "block", "with", "autoescape", "do", "trans"];

    private readonly List<Segment> segments;
    private int segment;
    private IReadOnlyList<Token> tokens = [];
    private int position;

    private TemplateParser(List<Segment> segments) => this.segments = segments;

    public static IReadOnlyList<Node> Parse(string source)
    {
        var parser = new TemplateParser(TemplateLexer.Split(source));
        var body = parser.ParseBody([], out var end);
        return end is null ? body : throw new TemplateException($"unexpected {{% {end} %}}", parser.segments[parser.segment - 1].Line);
    }

    /// <summary>Nodes up to a statement named in <paramref name="ends"/> (consumed, its name in <paramref name="end"/>; its tokens left to read).</summary>
    private List<Node> ParseBody(string[] ends, out string? end)
    {
        var nodes = new List<Node>();
        while (segment < segments.Count)
        {
            var s = segments[segment++];
            switch (s.Kind)
            {
                case SegmentKind.Text:
                    nodes.Add(new TextNode(s.Text, s.Line));
                    break;
                case SegmentKind.Output:
                    Begin(s);
                    nodes.Add(new OutputNode(ParseTuple(withCondition: true), s.Line));
                    Finish();
                    break;
                default:
                    Begin(s);
                    var keyword = Next();
                    if (keyword.Kind != TokenKind.Name)
                    {
                        throw new TemplateException($"a statement must start with its name, not {keyword}", keyword.Line);
                    }
                    if (ends.Contains(keyword.Text))
                    {
                        end = keyword.Text;
                        return nodes;
                    }
                    if (ParseStatement(keyword) is { } node)
                    {
                        nodes.Add(node);
                    }
                    break;
            }
        }
        if (ends.Length > 0)
        {
            throw new TemplateException($"the template ends before {{% {ends[^1]} %}}", segments.Count > 0 ? segments[^1].Line : 0);
        }
        end = null;
        return nodes;
    }

    private List<Node> Block(string name, int line, params string[] ends)
    {
        var body = ParseBody(ends, out var end);
        if (end is null)
        {
            throw new TemplateException($"{{% {name} %}} is never closed", line);
        }
        return body;
    }

    private Node? ParseStatement(Token keyword)
    {
        var line = keyword.Line;
        switch (keyword.Text)
        {
            case "if":
                return ParseIf(line);
            case "for":
                return ParseFor(line);
            case "set":
                return ParseSet(line);
            case "macro":
                return ParseMacro(line);
            case "filter":
            {
                var filter = ParseFilter(new NameExpr("", line));
                Finish();
                var body = Block("filter", line, "endfilter");
                Finish();
                return new FilterBlockNode(filter, body, line);
            }
            case "break" or "continue":
                Finish();
                return new LoopControlNode(keyword.Text == "break", line);
            case "generation":
            {
                // transformers marks the assistant's text for training masks; rendering keeps the body as it is.
                Finish();
                var body = Block("generation", line, "endgeneration");
                Finish();
                return new IfNode([(new LiteralExpr(true, line), body)], [], line);
            }
            case var name when Unsupported.Contains(name):
                throw new TemplateException($"the {{% {name} %}} statement is not supported by this renderer", line);
            default:
                throw new TemplateException($"unknown statement {{% {keyword.Text} %}}", line);
        }
    }

    private IfNode ParseIf(int line)
    {
        var branches = new List<(Expr, IReadOnlyList<Node>)>();
        var condition = ParseExpression();
        while (true)
        {
            Finish();
            var body = ParseBody(["elif", "else", "endif"], out var end);
            if (end is null)
            {
                throw new TemplateException("{% if %} is never closed with {% endif %}", line);
            }
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = ParseExpression();
                continue;
            }
            Finish();
            var otherwise = end == "else" ? Block("else", line, "endif") : [];
            if (end == "else")
            {
                Finish();
            }
            return new IfNode(branches, otherwise, line);
        }
    }

    private ForNode ParseFor(int line)
    {
        var targets = ParseTargets();
        Expect("in");
        var iterable = ParseOr();
        Expr? filter = null;
        if (Peek().IsName("if"))
        {
            Next();
            filter = ParseOr();
        }
        if (Peek().IsName("recursive"))
        {
            throw new TemplateException("recursive for loops are not supported", line);
        }
        Finish();
        var body = ParseBody(["else", "endfor"], out var end);
        if (end is null)
        {
            throw new TemplateException("{% for %} is never closed with {% endfor %}", line);
        }
        Finish();
        var otherwise = end == "else" ? Block("for", line, "endfor") : [];
        if (end == "else")
        {
            Finish();
        }
        return new ForNode(targets, iterable, filter, body, otherwise, line);
    }

    private SetNode ParseSet(int line)
    {
        var first = ExpectName();
        if (Peek().Is("."))
        {
            Next();
            var attribute = ExpectName().Text;
            ExpectOperator("=");
            var value = ParseTuple(withCondition: true);
            Finish();
            return new SetNode([first.Text], attribute, value, null, line);
        }
        var targets = new List<string> { first.Text };
        while (Peek().Is(","))
        {
            Next();
            targets.Add(ExpectName().Text);
        }
        if (Peek().Kind == TokenKind.End && targets.Count == 1)
        {
            Finish();
            var body = Block("set", line, "endset");
            Finish();
            return new SetNode(targets, null, null, body, line);
        }
        ExpectOperator("=");
        var assigned = ParseTuple(withCondition: true);
        Finish();
        return new SetNode(targets, null, assigned, null, line);
    }

    private MacroNode ParseMacro(int line)
    {
        var name = ExpectName().Text;
        ExpectOperator("(");
        var parameters = new List<(string, Expr?)>();
        while (!Peek().Is(")"))
        {
            if (parameters.Count > 0)
            {
                ExpectOperator(",");
            }
            var parameter = ExpectName().Text;
            Expr? fallback = null;
            if (Peek().Is("="))
            {
                Next();
                fallback = ParseExpression();
            }
            parameters.Add((parameter, fallback));
        }
        Next();
        Finish();
        var body = Block("macro", line, "endmacro");
        Finish();
        return new MacroNode(name, parameters, body, line);
    }

    private List<string> ParseTargets()
    {
        var parenthesized = Peek().Is("(");
        if (parenthesized)
        {
            Next();
        }
        var targets = new List<string> { ExpectName().Text };
        while (Peek().Is(","))
        {
            Next();
            targets.Add(ExpectName().Text);
        }
        if (parenthesized)
        {
            ExpectOperator(")");
        }
        return targets;
    }

    // Expressions, lowest precedence first.

    private Expr ParseTuple(bool withCondition)
    {
        var line = Peek().Line;
        var first = withCondition ? ParseExpression() : ParseOr();
        if (!Peek().Is(","))
        {
            return first;
        }
        var items = new List<Expr> { first };
        while (Peek().Is(","))
        {
            Next();
            if (Peek().Kind == TokenKind.End || Peek().Is("="))
            {
                break;
            }
            items.Add(withCondition ? ParseExpression() : ParseOr());
        }
        return new ListExpr(items, IsTuple: true, line);
    }

    private Expr ParseExpression()
    {
        var value = ParseOr();
        while (Peek().IsName("if"))
        {
            var line = Next().Line;
            var condition = ParseOr();
            Expr? otherwise = null;
            if (Peek().IsName("else"))
            {
                Next();
                otherwise = ParseExpression();
            }
            value = new ConditionalExpr(condition, value, otherwise, line);
        }
        return value;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Peek().IsName("or"))
        {
            var line = Next().Line;
            left = new BinaryExpr("or", left, ParseAnd(), line);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Peek().IsName("and"))
        {
            var line = Next().Line;
            left = new BinaryExpr("and", left, ParseNot(), line);
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (!Peek().IsName("not"))
        {
            return ParseCompare();
        }
        var line = Next().Line;
        return new UnaryExpr("not", ParseNot(), line);
    }

    private Expr ParseCompare()
    {
        var left = ParseMath1();
        while (true)
        {
            var token = Peek();
            string op;
            if (token.Kind == TokenKind.Operator && token.Text is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                op = Next().Text;
            }
            else if (token.IsName("in"))
            {
                Next();
                op = "in";
            }
            else if (token.IsName("not") && PeekAt(1).IsName("in"))
            {
                Next();
                Next();
                op = "not in";
            }
            else
            {
                return left;
            }
            left = new BinaryExpr(op, left, ParseMath1(), token.Line);
        }
    }

    private Expr ParseMath1() => ParseLeft(ParseConcat, "+", "-");

    private Expr ParseConcat() => ParseLeft(ParseMath2, "~");

    private Expr ParseMath2() => ParseLeft(ParsePow, "*", "/", "//", "%");

    private Expr ParsePow() => ParseLeft(() => ParseUnary(withFilter: true), "**");

    private Expr ParseLeft(Func<Expr> operand, params string[] operators)
    {
        var left = operand();
        while (Peek().Kind == TokenKind.Operator && operators.Contains(Peek().Text))
        {
            var op = Next();
            left = new BinaryExpr(op.Text, left, operand(), op.Line);
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        var token = Peek();
        Expr value;
        if (token.Is("-") || token.Is("+"))
        {
            Next();
            value = new UnaryExpr(token.Text, ParseUnary(withFilter: false), token.Line);
        }
        else
        {
            value = ParsePostfix(ParsePrimary());
        }
        return withFilter ? ParseFiltersAndTests(value) : value;
    }

    private Expr ParseFiltersAndTests(Expr value)
    {
        while (true)
        {
            if (Peek().Is("|"))
            {
                Next();
                value = ParseFilter(value);
            }
            else if (Peek().IsName("is"))
            {
                Next();
                value = ParseTest(value);
            }
            else if (Peek().Is("("))
            {
                value = ParseCall(value);
            }
            else
            {
                return value;
            }
        }
    }

    private FilterExpr ParseFilter(Expr value)
    {
        var name = ExpectName();
        var (arguments, keywords) = Peek().Is("(") ? ParseArguments() : ([], []);
        return new FilterExpr(value, name.Text, arguments, keywords, name.Line);
    }

    private TestExpr ParseTest(Expr value)
    {
        var negated = Peek().IsName("not");
        if (negated)
        {
            Next();
        }
        var name = Next();
        if (name.Kind != TokenKind.Name)
        {
            throw new TemplateException($"'is' must be followed by a test's name, not {name}", name.Line);
        }
        List<Expr> arguments = [];
        var next = Peek();
        if (next.Is("("))
        {
            var (positional, keywords) = ParseArguments();
            arguments = positional;
            if (keywords.Count > 0)
            {
                throw new TemplateException($"the test '{name.Text}' takes no keyword arguments", name.Line);
            }
        }
        else if (next.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float
                 || next.Kind == TokenKind.Name && next.Text is not ("else" or "or" or "and" or "if" or "in" or "not" or "is")
                 || next.Is("[") || next.Is("{"))
        {
            arguments = [ParsePostfix(ParsePrimary())];
        }
        return new TestExpr(value, name.Text, arguments, negated, name.Line);
    }

    private Expr ParsePrimary()
    {
        var token = Next();
        switch (token.Kind)
        {
            case TokenKind.Name:
                return token.Text switch
                {
                    "true" or "True" => new LiteralExpr(true, token.Line),
                    "false" or "False" => new LiteralExpr(false, token.Line),
                    "none" or "None" => new LiteralExpr(null, token.Line),
                    _ => new NameExpr(token.Text, token.Line),
                };
            case TokenKind.String:
                var text = token.Text;
                while (Peek().Kind == TokenKind.String)
                {
                    text += Next().Text; // adjacent literals join, as in Python
                }
                return new LiteralExpr(text, token.Line);
            case TokenKind.Integer:
                return new LiteralExpr(long.Parse(token.Text, CultureInfo.InvariantCulture), token.Line);
            case TokenKind.Float:
                return new LiteralExpr(double.Parse(token.Text, CultureInfo.InvariantCulture), token.Line);
        }
        if (token.Is("("))
        {
            if (Peek().Is(")"))
            {
                Next();
                return new ListExpr([], IsTuple: true, token.Line);
            }
            var inner = ParseTuple(withCondition: true);
            ExpectOperator(")");
            return inner;
        }
        if (token.Is("["))
        {
            var items = new List<Expr>();
            while (!Peek().Is("]"))
            {
                if (items.Count > 0)
                {
                    ExpectOperator(",");
                    if (Peek().Is("]"))
                    {
                        break;
                    }
                }
                items.Add(ParseExpression());
            }
            Next();
            return new ListExpr(items, IsTuple: false, token.Line);
        }
        if (token.Is("{"))
        {
            var items = new List<(Expr, Expr)>();
            while (!Peek().Is("}"))
            {
                if (items.Count > 0)
                {
                    ExpectOperator(",");
                    if (Peek().Is("}"))
                    {
                        break;
                    }
                }
                var key = ParseExpression();
                ExpectOperator(":");
                items.Add((key, ParseExpression()));
            }
            Next();
            return new DictExpr(items, token.Line);
        }
        throw new TemplateException($"expected a value, found {token}", token.Line);
    }

    private Expr ParsePostfix(Expr value)
    {
        while (true)
        {
            var token = Peek();
            if (token.Is("."))
            {
                Next();
                var name = Next();
                value = name.Kind switch
                {
                    TokenKind.Name => new AttributeExpr(value, name.Text, name.Line),
                    TokenKind.Integer => new IndexExpr(value, new LiteralExpr(long.Parse(name.Text, CultureInfo.InvariantCulture), name.Line), name.Line),
                    _ => throw new TemplateException($"expected an attribute's name after '.', found {name}", name.Line),
                };
            }
            else if (token.Is("["))
            {
                Next();
                value = ParseSubscript(value, token.Line);
            }
            else if (token.Is("("))
            {
                value = ParseCall(value);
            }
            else
            {
                return value;
            }
        }
    }

    private Expr ParseSubscript(Expr target, int line)
    {
        Expr? start = Peek().Is(":") ? null : ParseExpression();
        if (Peek().Is("]"))
        {
            Next();
            return new IndexExpr(target, start!, line);
        }
        ExpectOperator(":");
        Expr? stop = Peek().Is(":") || Peek().Is("]") ? null : ParseExpression();
        Expr? step = null;
        if (Peek().Is(":"))
        {
            Next();
            step = Peek().Is("]") ? null : ParseExpression();
        }
        ExpectOperator("]");
        return new SliceExpr(target, start, stop, step, line);
    }

    private CallExpr ParseCall(Expr callee)
    {
        var line = Peek().Line;
        var (arguments, keywords) = ParseArguments();
        return new CallExpr(callee, arguments, keywords, line);
    }

    private (List<Expr>, List<(string, Expr)>) ParseArguments()
    {
        ExpectOperator("(");
        var arguments = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        while (!Peek().Is(")"))
        {
            if (arguments.Count + keywords.Count > 0)
            {
                ExpectOperator(",");
                if (Peek().Is(")"))
                {
                    break;
                }
            }
            if (Peek().Is("*") || Peek().Is("**"))
            {
                throw new TemplateException("*args and **kwargs in calls are not supported", Peek().Line);
            }
            if (Peek().Kind == TokenKind.Name && PeekAt(1).Is("="))
            {
                var name = Next().Text;
                Next();
                keywords.Add((name, ParseExpression()));
            }
            else if (keywords.Count > 0)
            {
                throw new TemplateException("a positional argument follows a keyword argument", Peek().Line);
            }
            else
            {
                arguments.Add(ParseExpression());
            }
        }
        Next();
        return (arguments, keywords);
    }

    // The tokens of the current tag.

    private void Begin(Segment s)
    {
        tokens = s.Tokens;
        position = 0;
    }

    private Token Peek() => tokens[position];

    private Token PeekAt(int ahead) => tokens[Math.Min(position + ahead, tokens.Count - 1)];

    private Token Next()
    {
        var token = tokens[position];
        if (token.Kind != TokenKind.End)
        {
            position++;
        }
        return token;
    }

    private void Finish()
    {
        if (Peek().Kind != TokenKind.End)
        {
            throw new TemplateException($"unexpected {Peek()} in a tag", Peek().Line);
        }
    }

    private void Expect(string name)
    {
        var token = Next();
        if (!token.IsName(name))
        {
            throw new TemplateException($"expected '{name}', found {token}", token.Line);
        }
    }

    private void ExpectOperator(string op)
    {
        var token = Next();
        if (!token.Is(op))
        {
            throw new TemplateException($"expected '{op}', found {token}", token.Line);
        }
    }

    private Token ExpectName()
    {
        var token = Next();
        return token.Kind == TokenKind.Name ? token : throw new TemplateException($"expected a name, found {token}", token.Line);
    }
}
