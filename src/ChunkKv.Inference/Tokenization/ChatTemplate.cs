using System.Text.Json;
using System.Text.Json.Nodes;
using ChunkKv.Inference.Tokenization.Jinja;

namespace ChunkKv.Inference.Tokenization;

/// <summary>
/// A model's chat template, as transformers finds it: <c>chat_template.jinja</c> beside the tokenizer,
/// else <c>chat_template</c> in <c>tokenizer_config.json</c> (one template, or a list of named ones of
/// which <c>default</c> is taken unless another is named). Rendered with the variables transformers
/// passes: <c>messages</c>, <c>add_generation_prompt</c>, and the special tokens' text (<c>bos_token</c>, …).
/// </summary>
public sealed class ChatTemplate
{
    private static readonly string[] SpecialTokenNames = ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"];

    private readonly JinjaTemplate template;
    private readonly Dictionary<string, string> specialTokens;

    private ChatTemplate(string source, string? name, Dictionary<string, string> specialTokens)
    {
        Source = source;
        Name = name;
        this.specialTokens = specialTokens;
        template = JinjaTemplate.Parse(source);
    }

    /// <summary>The template's Jinja text.</summary>
    public string Source { get; }

    /// <summary>Its name when the model has several; null for the only one.</summary>
    public string? Name { get; }

    /// <summary>The text of a special token the template may write (<c>bos_token</c> …); null when the model has none.</summary>
    public string? SpecialToken(string name) => specialTokens.GetValueOrDefault(name);

    /// <summary>A template from its text (tests, and callers that keep templates elsewhere).</summary>
    /// <exception cref="TemplateException">It uses a construct this renderer does not support, or is not valid Jinja.</exception>
    public static ChatTemplate FromSource(string source, IReadOnlyDictionary<string, string>? specialTokens = null) =>
        new(source, null, specialTokens?.ToDictionary() ?? []);

    /// <summary>The directory's chat template; null when it has none.</summary>
    /// <param name="name">Which of several named templates; null: <c>default</c>.</param>
    /// <exception cref="TokenizerFormatException">The files are malformed, or the named template is not there.</exception>
    /// <exception cref="TemplateException">The template uses a construct this renderer does not support, named with its line.</exception>
    public static ChatTemplate? FromModelDirectory(string directory, string? name = null)
    {
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        JsonNode? config = null;
        if (File.Exists(configPath))
        {
            try
            {
                config = JsonNode.Parse(File.ReadAllText(configPath));
            }
            catch (JsonException e)
            {
                throw new TokenizerFormatException($"tokenizer_config.json is not valid JSON: {e.Message}", e);
            }
        }
        var specialTokens = new Dictionary<string, string>();
        foreach (var token in SpecialTokenNames)
        {
            if (SpecialTokenText(config?[token]) is { } text)
            {
                specialTokens[token] = text;
            }
        }
        var file = Path.Combine(directory, "chat_template.jinja");
        if (File.Exists(file) && name is null)
        {
            return new ChatTemplate(File.ReadAllText(file), null, specialTokens);
        }
        switch (config?["chat_template"])
        {
            case null:
                return name is null ? null : throw new TokenizerFormatException($"the model has no chat template named '{name}'");
            case JsonValue value when value.TryGetValue(out string? source):
                return name is null or "default" ? new ChatTemplate(source, null, specialTokens)
                    : throw new TokenizerFormatException($"the model has one chat template, not one named '{name}'");
            case JsonArray list:
                var named = list.OfType<JsonObject>()
                    .Select(t => (Name: t["name"]?.GetValue<string>(), Template: t["template"]?.GetValue<string>()))
                    .Where(t => t.Name is not null && t.Template is not null).ToList();
                var wanted = name ?? "default";
                var chosen = named.FirstOrDefault(t => t.Name == wanted);
                return chosen.Template is not null
                    ? new ChatTemplate(chosen.Template, chosen.Name, specialTokens)
                    : throw new TokenizerFormatException($"the model's chat templates are {string.Join(", ", named.Select(t => t.Name))}: none is named '{wanted}'");
            default:
                throw new TokenizerFormatException("tokenizer_config.json's chat_template is neither a string nor a list of named templates");
        }
    }

    /// <summary>The prompt for a conversation, as <c>apply_chat_template(messages, tokenize=False)</c> writes it.</summary>
    /// <param name="messages">Message objects (<c>role</c>, <c>content</c>, and whatever else the template reads: <c>tool_calls</c> …).</param>
    /// <param name="addGenerationPrompt">Whether the assistant's opening goes last, for the model to answer after.</param>
    /// <param name="variables">More variables (<c>tools</c>, <c>enable_thinking</c>, <c>date_string</c> …).</param>
    /// <param name="now">What <c>strftime_now</c> formats; null: now.</param>
    /// <exception cref="TemplateRaisedException">The template refused the conversation (its own message).</exception>
    /// <exception cref="TemplateException">The template used a value the wrong way.</exception>
    public string Render(JsonArray messages, bool addGenerationPrompt, JsonObject? variables = null, DateTime? now = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        // The nodes are read where they are (a JsonObject would need them cloned to adopt them).
        var all = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (token, text) in specialTokens)
        {
            all[token] = text;
        }
        foreach (var (key, value) in variables ?? [])
        {
            all[key] = value;
        }
        all["messages"] = messages;
        all["add_generation_prompt"] = addGenerationPrompt;
        return template.Render(all, now);
    }

    /// <summary>A special token in tokenizer_config.json: its text, or an AddedToken object holding it under <c>content</c>.</summary>
    private static string? SpecialTokenText(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonObject o when o["content"] is JsonValue c && c.TryGetValue(out string? s) => s,
        _ => null,
    };
}
