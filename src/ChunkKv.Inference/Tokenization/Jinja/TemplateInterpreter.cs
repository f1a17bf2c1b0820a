using System.Text;

namespace ChunkKv.Inference.Tokenization.Jinja;

/// <summary>Variables visible at a point of the template: a loop's body and a macro's call see their own first.</summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> variables = new(StringComparer.Ordinal);

    public Scope? Parent { get; } = parent;

    public object? Lookup(string name)
    {
        for (var scope = this; scope is not null; scope = scope.Parent)
        {
            if (scope.variables.TryGetValue(name, out var value))
            {
                return value;
            }
        }
        return Undefined.Of(name);
    }

    public void Set(string name, object? value) => variables[name] = value;
}

/// <summary>Runs a parsed template: statements write text, expressions evaluate to <see cref="TemplateValues"/>.</summary>
internal sealed class TemplateInterpreter
{
    private enum Flow { Normal, Break, Continue }

    private readonly Scope globals;

    public TemplateInterpreter(Scope globals) => this.globals = globals;

    public string Render(IReadOnlyList<Node> nodes)
    {
        var output = new StringBuilder();
        Execute(nodes, new Scope(globals), output);
        return output.ToString();
    }

    private Flow Execute(IReadOnlyList<Node> nodes, Scope scope, StringBuilder output)
    {
        foreach (var node in nodes)
        {
            var flow = Execute(node, scope, output);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }
        return Flow.Normal;
    }

    private Flow Execute(Node node, Scope scope, StringBuilder output)
    {
        switch (node)
        {
            case TextNode text:
                output.Append(text.Text);
                return Flow.Normal;
            case OutputNode o:
                output.Append(TemplateValues.ToOutput(Evaluate(o.Value, scope)));
                return Flow.Normal;
            case IfNode branches:
                foreach (var (condition, body) in branches.Branches)
                {
                    if (TemplateValues.Truthy(Evaluate(condition, scope)))
                    {
                        return Execute(body, scope, output);
                    }
                }
                return Execute(branches.Else, scope, output);
            case ForNode loop:
                ExecuteFor(loop, scope, output);
                return Flow.Normal;
            case SetNode set:
                ExecuteSet(set, scope);
                return Flow.Normal;
            case MacroNode macro:
                scope.Set(macro.Name, Macro(macro));
                return Flow.Normal;
            case FilterBlockNode block:
            {
                var body = new StringBuilder();
                Execute(block.Body, scope, body);
                var filter = (FilterExpr)block.Filter;
                output.Append(TemplateValues.ToOutput(ApplyFilter(filter with { Value = new LiteralExpr(body.ToString(), block.Line) }, scope)));
                return Flow.Normal;
            }
            case LoopControlNode control:
                return control.Break ? Flow.Break : Flow.Continue;
            default:
                throw new TemplateException($"cannot run a {node.GetType().Name}", node.Line);
        }
    }

    private void ExecuteFor(ForNode loop, Scope scope, StringBuilder output)
    {
        var items = TemplateValues.Iterate(Evaluate(loop.Iterable, scope), loop.Line);
        if (loop.Filter is not null)
        {
            items = items.Where(item =>
            {
                var test = new Scope(scope);
                Bind(loop.Targets, item, test, loop.Line);
                return TemplateValues.Truthy(Evaluate(loop.Filter, test));
            }).ToList();
        }
        if (items.Count == 0)
        {
            Execute(loop.Else, scope, output);
            return;
        }
        // One scope for the whole loop, as @huggingface/jinja has it: what the body sets lasts into the
        // next iteration, never past the loop (a namespace carries values out).
        var body = new Scope(scope);
        for (var i = 0; i < items.Count; i++)
        {
            Bind(loop.Targets, items[i], body, loop.Line);
            body.Set("loop", LoopVariable(items, i));
            if (Execute(loop.Body, body, output) == Flow.Break)
            {
                break;
            }
        }
    }

    private static OrderedDictionary<string, object?> LoopVariable(List<object?> items, int i)
    {
        var count = items.Count;
        return new OrderedDictionary<string, object?>
        {
            ["index"] = (long)(i + 1),
            ["index0"] = (long)i,
            ["revindex"] = (long)(count - i),
            ["revindex0"] = (long)(count - i - 1),
            ["first"] = i == 0,
            ["last"] = i == count - 1,
            ["length"] = (long)count,
            ["previtem"] = i > 0 ? items[i - 1] : Undefined.Of("previtem"),
            ["nextitem"] = i < count - 1 ? items[i + 1] : Undefined.Of("nextitem"),
            ["cycle"] = new Callable((arguments, _) => arguments.Count == 0 ? Undefined.Of("cycle") : arguments[i % arguments.Count]),
        };
    }

    private static void Bind(IReadOnlyList<string> targets, object? value, Scope scope, int line)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], value);
            return;
        }
        if (value is not List<object?> parts || parts.Count != targets.Count)
        {
            throw new TemplateException($"cannot unpack {TemplateValues.TypeName(value)} into {targets.Count} names", line);
        }
        for (var i = 0; i < targets.Count; i++)
        {
            scope.Set(targets[i], parts[i]);
        }
    }

    private void ExecuteSet(SetNode set, Scope scope)
    {
        object? value;
        if (set.Body is not null)
        {
            var body = new StringBuilder();
            Execute(set.Body, scope, body);
            value = body.ToString();
        }
        else
        {
            value = Evaluate(set.Value!, scope);
        }
        if (set.Attribute is { } attribute)
        {
            if (scope.Lookup(set.Targets[0]) is not Namespace ns)
            {
                throw new TemplateException($"only a namespace's attributes can be set, and '{set.Targets[0]}' is not one", set.Line);
            }
            ns.Values[attribute] = value;
            return;
        }
        Bind(set.Targets, value, scope, set.Line);
    }

    private Callable Macro(MacroNode macro) => (arguments, keywords) =>
    {
        if (arguments.Count > macro.Parameters.Count)
        {
            throw new TemplateException($"macro '{macro.Name}' takes {macro.Parameters.Count} arguments, was given {arguments.Count}", macro.Line);
        }
        var scope = new Scope(globals);
        for (var i = 0; i < macro.Parameters.Count; i++)
        {
            var (name, fallback) = macro.Parameters[i];
            scope.Set(name, i < arguments.Count ? arguments[i]
                : keywords.TryGetValue(name, out var given) ? given
                : fallback is not null ? Evaluate(fallback, scope) : Undefined.Of(name));
        }
        foreach (var name in keywords.Keys.Where(k => macro.Parameters.All(p => p.Name != k)))
        {
            throw new TemplateException($"macro '{macro.Name}' has no parameter '{name}'", macro.Line);
        }
        var output = new StringBuilder();
        Execute(macro.Body, scope, output);
        return output.ToString();
    };

    public object? Evaluate(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case LiteralExpr literal:
                return literal.Value;
            case NameExpr name:
                return scope.Lookup(name.Name);
            case ListExpr list:
                return list.Items.Select(item => Evaluate(item, scope)).ToList();
            case DictExpr dict:
            {
                var result = new OrderedDictionary<string, object?>();
                foreach (var (key, value) in dict.Items)
                {
                    result[Evaluate(key, scope) as string ?? throw new TemplateException("dict keys must be strings", dict.Line)] = Evaluate(value, scope);
                }
                return result;
            }
            case AttributeExpr attribute:
                return TemplateMethods.Attribute(Evaluate(attribute.Target, scope), attribute.Name);
            case IndexExpr index:
                return TemplateMethods.Item(Evaluate(index.Target, scope), Evaluate(index.Index, scope), index.Line);
            case SliceExpr slice:
                return TemplateMethods.Slice(Evaluate(slice.Target, scope), Optional(slice.Start, scope), Optional(slice.Stop, scope), Optional(slice.Step, scope), slice.Line);
            case CallExpr call:
                return Call(call, scope);
            case FilterExpr filter:
                return ApplyFilter(filter, scope);
            case TestExpr test:
                return TemplateIsTests.Apply(test.Name, Evaluate(test.Value, scope), test.Arguments.Select(a => Evaluate(a, scope)).ToList(), test.Line) != test.Negated;
            case UnaryExpr unary:
                return TemplateOperators.Unary(unary.Operator, Evaluate(unary.Operand, scope), unary.Line);
            case BinaryExpr { Operator: "and" } and:
            {
                var left = Evaluate(and.Left, scope);
                return TemplateValues.Truthy(left) ? Evaluate(and.Right, scope) : left;
            }
            case BinaryExpr { Operator: "or" } or:
            {
                var left = Evaluate(or.Left, scope);
                return TemplateValues.Truthy(left) ? left : Evaluate(or.Right, scope);
            }
            case BinaryExpr binary:
                return TemplateOperators.Binary(binary.Operator, Evaluate(binary.Left, scope), Evaluate(binary.Right, scope), binary.Line);
            case ConditionalExpr conditional:
                return TemplateValues.Truthy(Evaluate(conditional.Condition, scope))
                    ? Evaluate(conditional.Then, scope)
                    : conditional.Else is null ? Undefined.Of("else") : Evaluate(conditional.Else, scope);
            default:
                throw new TemplateException($"cannot evaluate a {expr.GetType().Name}", expr.Line);
        }
    }

    private object? Optional(Expr? expr, Scope scope) => expr is null ? null : Evaluate(expr, scope);

    private object? Call(CallExpr call, Scope scope)
    {
        var arguments = call.Arguments.Select(a => Evaluate(a, scope)).ToList();
        var keywords = call.Keywords.ToDictionary(k => k.Name, k => Evaluate(k.Value, scope), StringComparer.Ordinal);
        if (call.Callee is AttributeExpr method)
        {
            var target = Evaluate(method.Target, scope);
            if (TemplateMethods.TryCall(target, method.Name, arguments, keywords, call.Line, out var result))
            {
                return result;
            }
            return Invoke(TemplateMethods.Attribute(target, method.Name), $"{method.Name}", arguments, keywords, call.Line);
        }
        var name = call.Callee is NameExpr n ? n.Name : "expression";
        return Invoke(Evaluate(call.Callee, scope), name, arguments, keywords, call.Line);
    }

    private static object? Invoke(object? callee, string name, List<object?> arguments, Dictionary<string, object?> keywords, int line)
    {
        if (callee is not Callable function)
        {
            throw new TemplateException(callee is Undefined ? $"unknown function '{name}'" : $"'{name}' is a {TemplateValues.TypeName(callee)}, not a function", line);
        }
        try
        {
            return function(arguments, keywords);
        }
        catch (TemplateException e) when (e.Line == 0)
        {
            throw e is TemplateRaisedException raised ? new TemplateRaisedException(raised.TemplateMessage, line) : new TemplateException(e.Message, line);
        }
    }

    private object? ApplyFilter(FilterExpr filter, Scope scope)
    {
        var value = Evaluate(filter.Value, scope);
        var arguments = filter.Arguments.Select(a => Evaluate(a, scope)).ToList();
        var keywords = filter.Keywords.ToDictionary(k => k.Name, k => Evaluate(k.Value, scope), StringComparer.Ordinal);
        return TemplateFilters.Apply(filter.Name, value, arguments, keywords, filter.Line);
    }
}
