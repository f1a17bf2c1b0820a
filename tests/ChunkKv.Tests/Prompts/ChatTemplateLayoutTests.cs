using System.Text.Json.Nodes;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Fusion;
using ChunkKv.Inference.Tests;
using ChunkKv.Inference.Tokenization;
using ChunkKv.Inference.Tokenization.Jinja;
using ChunkKv.Pipeline;
using ChunkKv.Prompts;
using ChunkKv.Retrieval.Embedding;
using ChunkKv.Retrieval.Indexing;
using ChunkKv.Tests.Chunking;

namespace ChunkKv.Tests.Prompts;

/// <summary>
/// The layout cut from a model's chat template: prefix, chunks and question, joined, are exactly what
/// @huggingface/jinja renders for the whole conversation (system message: the instruction and the
/// chunks, then the client's system text; its earlier turns; the question), on the real Qwen3 and
/// Llama 3 templates and on templates in other families' styles (one folds the system text into the
/// first user turn, one refuses a system message). Through a collection, a repeated query's chunk caches
/// all hit, whatever the conversation around it.
/// </summary>
public sealed class ChatTemplateLayoutTests
{
    private const string Instruction = "Use the notes.";
    private static readonly string[] Chunks = ["Mara Voss founded the Lute Guild in 1802.", "  She was born in Tarvik,\nby the sea. "];
    private static readonly Conversation Talk = new("Answer in one word.",
        [new ChatTurn(ChatTurn.User, "Who founded the guild?"), new ChatTurn(ChatTurn.Assistant, "Mara Voss.")]);

    public static TheoryData<string, bool> Templates() => new()
    {
        { "qwen3", false }, { "qwen3", true }, { "llama3", false }, { "llama3", true },
        { "chatml", true }, { "inst", false }, { "inst", true }, { "headers", true }, { "turns", false }, { "turns", true },
    };

    [Theory]
    [MemberData(nameof(Templates))]
    public void Prefix_chunks_and_question_join_to_what_the_template_renders(string name, bool withConversation)
    {
        var template = Template(name);
        var layout = new ChatTemplatePromptLayout(template);
        var conversation = withConversation ? Talk : Conversation.None;

        var joined = layout.PrefixText(Instruction) + string.Concat(Chunks.Select(layout.ChunkText))
            + layout.QuestionText(Instruction, "Where was she born?", conversation);

        var notes = Instruction + string.Concat(Chunks.Select(c => "\n\n" + c.Trim())) + (conversation.System is { } s ? "\n\n" + s : "");
        var messages = new JsonArray();
        if (name == "turns")
        {
            // This template refuses a system message: the notes open the one user turn, earlier turns written in it.
            var earlier = string.Concat(conversation.History.Select(t => $"\n\n{(t.Role == ChatTurn.User ? "User" : "Assistant")}: {t.Content}"));
            messages.Add(Message("user", notes + earlier + "\n\nWhere was she born?"));
        }
        else
        {
            messages.Add(Message("system", notes));
            foreach (var turn in conversation.History)
            {
                messages.Add(Message(turn.Role, turn.Content));
            }
            messages.Add(Message("user", "Where was she born?"));
        }
        var variables = new JsonObject { ["messages"] = messages, ["add_generation_prompt"] = true };
        foreach (var token in new[] { "bos_token", "eos_token" })
        {
            if (template.SpecialToken(token) is { } text)
            {
                variables[token] = text;
            }
        }
        Assert.Equal(JinjaReference.Render(template.Source, variables), joined);
    }

    [Fact]
    public void A_template_that_changes_the_text_or_moves_its_system_turn_is_refused_with_the_reason()
    {
        var shouting = ChatTemplate.FromSource("{% for m in messages %}<{{ m.role }}>{{ m.content | upper }}{% endfor %}");
        Assert.Contains("cannot be cut", Assert.ThrowsAny<TemplateException>(() => new ChatTemplatePromptLayout(shouting)).Message, StringComparison.Ordinal);

        var counting = ChatTemplate.FromSource("[{{ messages | length }} turns]{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}");
        Assert.Contains("differently when the conversation is longer",
            Assert.ThrowsAny<TemplateException>(() => new ChatTemplatePromptLayout(counting)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dated_template_writes_the_date_the_layout_was_made_so_its_prefix_does_not_change_at_midnight()
    {
        var dated = ChatTemplate.FromSource(
            "{{ bos_token }}<sys>Today: {{ strftime_now('%d %b %Y') }}\n{{ messages[0].content }}</sys>"
            + "{% for m in messages[1:] %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
            new Dictionary<string, string> { ["bos_token"] = "<s>" });
        var layout = new ChatTemplatePromptLayout(dated, new DateTime(2025, 6, 15, 23, 59, 59));

        Assert.Equal("<s><sys>Today: 15 Jun 2025\nUse the notes.", layout.PrefixText(Instruction));
        // Rendered again for every question (after midnight too), the text before the chunks is the same.
        Assert.Equal("</sys><user>Why?<assistant>", layout.QuestionText(Instruction, "Why?", Conversation.None));
    }

    [Fact]
    public void A_model_with_a_template_gets_its_layout_and_the_fixture_keeps_its_own()
    {
        Assert.IsType<ChatTemplatePromptLayout>(PromptLayout.FromModelDirectory(Fixtures.TokenizerDirectory("qwen3")));
        var fixture = Assert.IsType<PlainPromptLayout>(PromptLayout.FromModelDirectory(Path.Combine(Fixtures.RepoRoot, "tests", "fixtures", "fixture-model")));
        Assert.Equal("Question: {question}\nAnswer:", fixture.QuestionTemplate);
        Assert.Same(PromptLayout.Default, PromptLayout.FromModelDirectory(Fixtures.TokenizerDirectory("llama2")));
    }

    [Fact]
    public async Task A_repeated_query_hits_every_chunk_cache_whatever_the_conversation()
    {
        using var model = ModelFixtures.TinyQwen3(); // the real Qwen3 tokenizer and chat template
        var folder = Fixtures.TempDirectory("template-queries");
        using var index = EmbeddedChunkIndex.Open(Path.Combine(folder, "index"));
        var runtime = new ChunkKvRuntime(model, new KvStore([new MemoryTier(64 << 20)]), KvCodec.Create(KvCodecId.F16), layout: null,
            new RetrievalStores(index, new HashingEmbedder(64)));
        Assert.IsType<ChatTemplatePromptLayout>(runtime.Layout);
        var collection = runtime.Collection("docs", new CollectionSettings(ChunkTokens: 40));
        await collection.IngestAsync(new DocumentInput("doc", Corpus.Prose(paragraphs: 5, seed: 11)));

        var first = await collection.AskAsync(new QueryRequest("What does the cache hold?", TopK: 3, Method: FusionMethod.Reuse, MaxTokens: 2));
        var again = await collection.AskAsync(new QueryRequest("What does the cache hold?", TopK: 3, Method: FusionMethod.Reuse, MaxTokens: 2,
            Conversation: Talk));

        // Ingestion stored each chunk after the template's system header: the first query already hits.
        Assert.All(first.Sources.Concat(again.Sources), s => Assert.Equal(CacheSource.Hit, s.Cache));
        var tokenizer = model.Tokenizer!;
        Assert.Equal("<|im_start|>system\n" + PromptLayout.DefaultInstruction, tokenizer.Decode(collection.PrefixTokens, skipSpecialTokens: false));
        Assert.All(again.Sources, s => Assert.Equal(tokenizer.Encode("\n\n" + s.Hit.Content.Trim(), addSpecialTokens: false), s.TokenIds));
        var question = tokenizer.Decode(collection.QuestionTokens("What does the cache hold?", Talk), skipSpecialTokens: false);
        Assert.Equal("\n\nAnswer in one word.<|im_end|>\n<|im_start|>user\nWho founded the guild?<|im_end|>\n<|im_start|>assistant\nMara Voss.<|im_end|>\n"
            + "<|im_start|>user\nWhat does the cache hold?<|im_end|>\n<|im_start|>assistant\n", question);
        Assert.True(again.PromptTokens > first.PromptTokens);
    }

    [Fact]
    public void A_conversation_the_template_refuses_is_its_error_not_a_prompt()
    {
        var inst = new ChatTemplatePromptLayout(Template("inst"));
        var e = Assert.Throws<TemplateRaisedException>(() => inst.QuestionText(Instruction, "Why?",
            new Conversation(null, [new ChatTurn(ChatTurn.User, "One."), new ChatTurn(ChatTurn.User, "Two.")])));
        Assert.Contains("alternate", e.TemplateMessage, StringComparison.Ordinal);
    }

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    private static ChatTemplate Template(string name)
    {
        if (name is "qwen3" or "llama3")
        {
            return ChatTemplate.FromModelDirectory(Fixtures.TokenizerDirectory(name))!;
        }
        var source = File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "tests", "ChunkKv.Inference.Tests", "Tokenization", "ChatTemplates", "templates", name + ".jinja"));
        return ChatTemplate.FromSource(source, new Dictionary<string, string> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" });
    }
}
