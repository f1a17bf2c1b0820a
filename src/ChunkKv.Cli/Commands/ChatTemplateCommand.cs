using System.Text.Json;
using System.Text.Json.Nodes;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Cli.Commands;

/// <summary>
/// <c>chunkkv chat-template --model DIR --messages FILE.json</c>: the prompt the model's chat template
/// renders for a conversation, exactly (the generation prompt added, no newline of its own). The directory
/// needs only tokenizer_config.json (or chat_template.jinja). The file holds the messages, or an object
/// with <c>messages</c> and any other variables the template reads (<c>tools</c>, <c>enable_thinking</c> …).
/// </summary>
public sealed class ChatTemplateCommand : ICommand
{
    public string Name => "chat-template";
    public string Summary => "print the prompt --model DIR's chat template renders for the conversation in --messages FILE.json";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CommonOptions.Model,
        CliOption.RequiredValue("messages", "FILE", "a JSON array of {role, content} messages, or an object with \"messages\" and other template variables"),
        CliOption.Value("template", "NAME", "which of the model's named templates (default: \"default\")"),
        CliOption.Flag("no-generation-prompt", "leave out the assistant's opening that the model answers after"),
    ];

    public Task<int> RunAsync(CommandArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var directory = ModelArguments.Directory(arguments);
        var template = ChatTemplate.FromModelDirectory(directory, arguments.Optional("template"))
            ?? throw new CommandFailedException($"{directory} has no chat template (neither chat_template.jinja nor tokenizer_config.json's chat_template)");
        var (messages, variables) = ReadConversation(arguments.Required("messages"));
        output.Write(template.Render(messages, addGenerationPrompt: !arguments.Flag("no-generation-prompt"), variables));
        return Task.FromResult(CliApp.Ok);
    }

    private static (JsonArray Messages, JsonObject Variables) ReadConversation(string path)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new CommandFailedException($"cannot read {path}: {e.Message}", e);
        }
        var (messages, variables) = root switch
        {
            JsonArray list => (list, new JsonObject()),
            JsonObject o when o["messages"] is JsonArray list => ((JsonArray)list.DeepClone(), (JsonObject)o.DeepClone()),
            _ => throw new CommandFailedException($"{path} must hold a JSON array of messages, or an object with a \"messages\" array"),
        };
        variables.Remove("messages");
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i] is not JsonObject message || message["role"] is not JsonValue role || !role.TryGetValue(out string? _))
            {
                throw new CommandFailedException($"{path}: message {i} must be an object with a \"role\" string");
            }
        }
        return (messages, variables);
    }
}
