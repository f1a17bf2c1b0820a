using System.Text.Json.Nodes;
using ChunkKv.Inference.Tokenization;
using ChunkKv.Inference.Tokenization.Jinja;

namespace ChunkKv.Inference.Tests.Tokenization.ChatTemplates;

/// <summary>
/// What the parity corpus cannot hold: where @huggingface/jinja departs from Jinja itself (there Python's
/// values, worked out by hand, are the reference), the errors that name an unsupported construct, and the
/// loading of a model's templates.
/// </summary>
public sealed class JinjaTemplateTests
{
    private static string Render(string template, JsonObject? variables = null) => JinjaTemplate.Parse(template).Render(variables ?? []);

    [Theory]
    [InlineData("{{ -7 % 3 }} {{ 7 % -3 }} {{ -7 // 2 }}", "2 -2 -4")] // Python's modulo takes the divisor's sign
    [InlineData("{{ 'xxhixx'.strip('x') }}|{{ 'a b  c'.split(None, 1) }}|{{ 'a.b.c'.rsplit('.', 1) }}", "hi|[\"a\", \"b  c\"]|[\"a.b\", \"c\"]")]
    [InlineData("{{ 'HeLLo' | capitalize }} {{ 'ab' * 2 }} {{ 2 ** -1 }}", "Hello abab 0.5")]
    [InlineData("{{ 9 is divisibleby 3 }} {{ 'a' is equalto 'a' }} {{ 'b' > 'a' }}", "true true true")]
    [InlineData("{{ [{'n': 'x'}, {'n': 'y'}] | join(', ', attribute='n') }}", "x, y")]
    [InlineData("{% for x in 'ab' %}{{ loop.cycle('o', 'e') }}{% endfor %}", "oe")]
    [InlineData("x\n    {%+ if true %}y{% endif +%}\nz", "x\n    y\nz")] // '+' keeps what lstrip_blocks and trim_blocks would take
    [InlineData("{{ '\\u00e9\\x41' }}", "éA")]
    public void Follows_jinja_and_python_where_the_reference_departs(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Fact]
    public void Formats_the_time_as_pythons_strftime_does()
    {
        var text = JinjaTemplate.Parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M %A') }}")
            .Render([], new DateTime(2026, 12, 3, 15, 4, 0));
        Assert.Equal("03 Dec 2026|2026-12-03 15:04 Thursday", text);
    }

    [Theory]
    [InlineData("{% include 'other.jinja' %}", "include")]
    [InlineData("{{ messages | frobnicate }}", "frobnicate")]
    [InlineData("{{ x is frobnicated }}", "frobnicated")]
    [InlineData("{% for m in messages recursive %}{% endfor %}", "recursive")]
    [InlineData("{% call m() %}{% endcall %}", "call")]
    [InlineData("{{ 'abc'.zfill(5) }}", "zfill")]
    [InlineData("{% set l = [1] %}{{ l.append(2) }}", "append")]
    [InlineData("{{ messages | groupby('role') }}", "groupby")]
    public void Names_the_construct_it_does_not_support(string template, string construct)
    {
        var e = Assert.ThrowsAny<TemplateException>(() => Render(template, new JsonObject { ["messages"] = new JsonArray() }));
        Assert.Contains(construct, e.Message, StringComparison.Ordinal);
        Assert.Equal(1, e.Line);
    }

    [Theory]
    [InlineData("line one\n{% if x %}\nnever closed", 2)]
    [InlineData("a\nb\n{{ 1 + }}", 3)]
    [InlineData("{{ 'open string }}", 1)]
    [InlineData("{% endfor %}", 1)]
    public void Says_where_a_syntax_error_is(string template, int line)
    {
        var e = Assert.ThrowsAny<TemplateException>(() => JinjaTemplate.Parse(template));
        Assert.Equal(line, e.Line);
    }

    [Fact]
    public void Raise_exception_gives_the_templates_own_words()
    {
        var e = Assert.Throws<TemplateRaisedException>(() => Render("\n{{ raise_exception('Roles must alternate') }}"));
        Assert.Equal("Roles must alternate", e.TemplateMessage);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void Takes_the_default_of_named_templates_or_the_one_asked_for()
    {
        var directory = Fixtures.TempDirectory("named-templates");
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), """
            { "bos_token": { "__type": "AddedToken", "content": "<s>" }, "eos_token": "</s>",
              "chat_template": [ { "name": "default", "template": "{{ bos_token }}{{ messages[0].content }}" },
                                 { "name": "rag", "template": "RAG {{ messages[0].content }}{{ eos_token }}" } ] }
            """);
        JsonArray messages = [new JsonObject { ["role"] = "user", ["content"] = "hi" }];
        Assert.Equal("<s>hi", ChatTemplate.FromModelDirectory(directory)!.Render(messages, addGenerationPrompt: false));
        Assert.Equal("RAG hi</s>", ChatTemplate.FromModelDirectory(directory, "rag")!.Render(messages, addGenerationPrompt: false));
        var missing = Assert.Throws<TokenizerFormatException>(() => ChatTemplate.FromModelDirectory(directory, "tool_use"));
        Assert.Contains("default, rag", missing.Message, StringComparison.Ordinal);

        // transformers now saves the template beside the config; that file wins.
        File.WriteAllText(Path.Combine(directory, "chat_template.jinja"), "file: {{ messages | length }}");
        Assert.Equal("file: 1", ChatTemplate.FromModelDirectory(directory)!.Render(messages, addGenerationPrompt: true));
    }

    [Fact]
    public void A_model_without_a_template_has_none()
    {
        Assert.Null(ChatTemplate.FromModelDirectory(Fixtures.TokenizerDirectory("llama2")));
        Assert.NotNull(ChatTemplate.FromModelDirectory(Fixtures.TokenizerDirectory("qwen3")));
    }
}
