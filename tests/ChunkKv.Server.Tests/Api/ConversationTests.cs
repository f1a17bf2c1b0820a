using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ChunkKv.Inference.Tokenization;
using ChunkKv.Prompts;
using OpenAI;
using OpenAI.Chat;

namespace ChunkKv.Server.Tests.Api;

/// <summary>
/// Whole conversations through both query endpoints, on a model with a real chat template (Qwen3's): the
/// client's system message and earlier turns reach the prompt (after the chunks, whose caches still hit),
/// the last user message is what is retrieved for, and what the template or the checks refuse is a 4xx
/// that says why.
/// </summary>
public sealed class ConversationTests(ApiServer server) : IClassFixture<ApiServer>
{
    private const string Question = "What keeps the prefix?";
    private static readonly Conversation Talk = new("Answer in five words at most.",
        [new ChatTurn(ChatTurn.User, "What moves the key?"), new ChatTurn(ChatTurn.Assistant, "Layer seven moves it.")]);

    private HttpClient Client => server.Client;

    private async Task<string> CollectionAsync()
    {
        var name = $"conv-{Guid.NewGuid():N}"[..20];
        var created = await Client.PostAsJsonAsync("/v1/collections", new { name });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("chat template", (await JsonAsync(created)).GetProperty("layout").GetString()); // the model's own template frames the prompts
        var text = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"Fact {i}: the cache keeps the prefix of layer {i % 7} and moves key {i}."));
        Assert.Equal(HttpStatusCode.Created, (await Client.PostAsJsonAsync($"/v1/collections/{name}/documents", new { id = "facts", text })).StatusCode);
        return name;
    }

    /// <summary>How many more tokens the conversation adds to the question part, by the model's own layout and tokenizer.</summary>
    private static int AddedTokens(Conversation conversation)
    {
        var layout = Assert.IsType<ChatTemplatePromptLayout>(PromptLayout.FromModelDirectory(ApiServer.Model));
        var tokenizer = Tokenizer.FromDirectory(ApiServer.Model);
        int Count(Conversation c) => tokenizer.Encode(layout.QuestionText(PromptLayout.DefaultInstruction, Question, c), addSpecialTokens: false).Length;
        return Count(conversation) - Count(Conversation.None);
    }

    [Fact]
    public async Task The_OpenAI_client_carries_the_whole_conversation_and_the_chunk_caches_still_hit()
    {
        var name = await CollectionAsync();
        var chat = new ChatClient($"chunkkv:{name}", new ApiKeyCredential("not-checked"), new OpenAIClientOptions
        {
            Endpoint = new Uri(Client.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(server.Factory.CreateClient()),
        });
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 3 };

        ChatCompletion alone = await chat.CompleteChatAsync([new UserChatMessage(Question)], options);
        ChatCompletion inConversation = await chat.CompleteChatAsync(
        [
            new SystemChatMessage(Talk.System!),
            new UserChatMessage(Talk.History[0].Content),
            new AssistantChatMessage(Talk.History[1].Content),
            new UserChatMessage(Question),
        ], options);

        // The same chunks (the last user message is what is retrieved for), the conversation's tokens more.
        Assert.Equal(alone.Usage.InputTokenCount + AddedTokens(Talk), inConversation.Usage.InputTokenCount);
        Assert.True(inConversation.Usage.InputTokenDetails.CachedTokenCount > 0);
        Assert.Equal(alone.Usage.InputTokenDetails.CachedTokenCount, inConversation.Usage.InputTokenDetails.CachedTokenCount);
    }

    [Fact]
    public async Task Query_takes_a_system_text_and_a_history()
    {
        var name = await CollectionAsync();
        var plain = await JsonAsync(await Client.PostAsJsonAsync("/v1/query", new { collection = name, question = Question, max_tokens = 2, method = "reuse" }));
        var response = await Client.PostAsJsonAsync("/v1/query", new
        {
            collection = name, question = Question, max_tokens = 2, method = "reuse",
            system = Talk.System, history = Talk.History.Select(t => new { role = t.Role, content = t.Content }),
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answered = await JsonAsync(response);

        Assert.Equal(plain.GetProperty("prompt_tokens").GetInt32() + AddedTokens(Talk), answered.GetProperty("prompt_tokens").GetInt32());
        Assert.All(answered.GetProperty("sources").EnumerateArray(), s => Assert.Equal("hit", s.GetProperty("cache").GetString()));
    }

    [Theory]
    [InlineData("""{"history": [{"role": "tool", "content": "x"}]}""", "history[0].role")]
    [InlineData("""{"history": [{"role": "user"}]}""", "history[0].content")]
    [InlineData("""{"system": "   "}""", "system")]
    [InlineData("""{"system": "bad \ud800 text"}""", "system")]
    public async Task Query_refuses_a_malformed_conversation_by_field(string extra, string field)
    {
        // Sent as written: a lone surrogate must reach the server as the JSON escape it is.
        var body = $$"""{"collection": "anything", "question": "{{Question}}", {{extra[1..]}}""";
        var response = await Client.PostAsync("/v1/query", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var problem = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        // A field that binds is checked by name; one that cannot bind (a lone surrogate) is named by its JSON path.
        var root = JsonDocument.Parse(problem).RootElement;
        Assert.True(root.TryGetProperty("errors", out var errors) ? errors.TryGetProperty(field, out _)
            : root.GetProperty("detail").GetString()!.Contains($"$.{field}", StringComparison.Ordinal), problem);
    }

    [Theory]
    [InlineData("""[{"role": "user", "content": "Hi"}, {"role": "tool", "content": "x"}, {"role": "user", "content": "Q?"}]""", "messages[1].role")]
    [InlineData("""[{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]""", "messages")]
    [InlineData("""[{"role": "system", "content": ""}, {"role": "user", "content": "Q?"}]""", "messages[0].content")]
    public async Task Chat_refuses_a_conversation_it_cannot_serve_by_message(string messages, string field)
    {
        var response = await Client.PostAsync("/v1/chat/completions", new StringContent(
            $$"""{"model": "chunkkv:anything", "messages": {{messages}}}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await JsonAsync(response)).GetProperty("errors").TryGetProperty(field, out _), field);
    }

    [Fact]
    public async Task A_conversation_the_models_template_refuses_is_a_400_in_its_words()
    {
        // The same model, with a template that insists on alternating turns (Mistral's style).
        var model = Path.Combine(Path.GetTempPath(), $"chunkkv-inst-model-{Guid.NewGuid():N}");
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(ApiServer.Model))
        {
            File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        }
        File.Copy(Path.Combine(ApiServer.RepoRoot(), "tests", "ChunkKv.Inference.Tests", "Tokenization", "ChatTemplates", "templates", "inst.jinja"),
            Path.Combine(model, "chat_template.jinja"));
        await using var factory = new ServerFactory(postgres: null, redis: null, new Dictionary<string, string?>
        {
            ["Model"] = model, ["DataDirectory"] = Path.Combine(model, "data"), ["ChunkTokens"] = "48",
        });
        using var client = factory.CreateClient();
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/v1/collections", new { name = "inst" })).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/v1/collections/inst/documents", new { id = "d", text = "The cache keeps the prefix." })).StatusCode);

        var response = await client.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "chunkkv:inst", max_tokens = 2,
            messages = new[] { new { role = "user", content = "One." }, new { role = "user", content = "Two?" } },
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await JsonAsync(response);
        Assert.Contains("Conversation roles must alternate", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var fine = await client.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "chunkkv:inst", max_tokens = 2,
            messages = new[] { new { role = "user", content = "One." }, new { role = "assistant", content = "Yes." }, new { role = "user", content = "Two?" } },
        });
        Assert.Equal(HttpStatusCode.OK, fine.StatusCode);
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
}
