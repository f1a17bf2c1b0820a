using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using ChunkKv.Inference.Tokenization;
using ChunkKv.Inference.Tokenization.Jinja;

namespace ChunkKv.Prompts;

/// <summary>
/// The layout a model's chat template gives: the template renders a conversation whose system message is
/// the instruction followed by the chunks (each trimmed and opened by a blank line) and whose user message is the
/// question; the rendered text is cut where the chunks go. <c>P</c> is what precedes them (the template's
/// system header and the instruction), <c>Q</c> what follows (the system turn's close, the client's own
/// system text and earlier turns, the question's turn, the assistant's opening). A template that takes no
/// system message (it raises, as Gemma's does) gets the same cut from a first user message instead, the
/// earlier turns then written into it as text.
/// </summary>
/// <remarks>
/// The cut is found by rendering with a marker where the chunks go, so no template is parsed by hand; a
/// template that alters the message text (the marker would not survive) or whose <c>P</c> changes with
/// the conversation (its caches could never hit) is refused when the layout is made, with the reason.
/// </remarks>
public sealed record ChatTemplatePromptLayout : PromptLayout
{
    private const string ChunksMarker = "\u0001chunkkv:chunks\u0001";
    private const string ChunkOpening = "\n\n";
    private const string QuestionProbe = "\u0002chunkkv:question\u0002";

    private readonly ChatTemplate template;
    private readonly bool systemTurn;

    /// <summary>
    /// What <c>strftime_now</c> gives the template (Llama 3.1's writes today's date in its system turn):
    /// fixed when the layout is made, so the text before the chunks, and the caches keyed by it, stay
    /// the same for the process's life instead of changing at midnight.
    /// </summary>
    private readonly DateTime now;
    private readonly ConcurrentDictionary<string, string> prefixes = new();

    /// <exception cref="TemplateException">The template cannot be rendered, or cannot be cut into the three parts.</exception>
    /// <param name="now">The date the template's <c>strftime_now</c> writes; null: the moment the layout is made.</param>
    public ChatTemplatePromptLayout(ChatTemplate template, DateTime? now = null)
    {
        ArgumentNullException.ThrowIfNull(template);
        this.template = template;
        this.now = now ?? DateTime.Now;
        try
        {
            systemTurn = true;
            Probe();
        }
        catch (TemplateRaisedException)
        {
            // The template refuses a system message: the instruction and chunks open the first user turn.
            systemTurn = false;
            Probe();
        }
    }

    public ChatTemplate Template => template;

    public override string Instruction => DefaultInstruction;

    public override string Origin => template.Name is { } name ? $"chat template '{name}'" : "chat template";

    public override bool AddsSpecialTokens => false;

    public override string ChunkForm => $"template:trimmed:{ChunkOpening}";

    public override string PrefixText(string instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        return prefixes.GetOrAdd(instruction, i => Cut(i, QuestionProbe, Conversation.None).Prefix);
    }

    /// <summary>The chunk trimmed and opened by a blank line: a template that trims the message (Llama 3's) then writes it as given.</summary>
    public override string ChunkText(string chunk) => ChunkOpening + chunk.Trim();

    public override string QuestionText(string instruction, string question, Conversation conversation)
    {
        var (prefix, after) = Cut(instruction, question, conversation);
        if (prefix != PrefixText(instruction))
        {
            throw new TemplateException("the chat template writes the text before the chunks differently for this conversation, "
                + "so chunk caches computed after it could not be used", 0);
        }
        return after;
    }

    /// <summary>
    /// Renders a conversation of each shape once: the marker must come through whole, once, before the
    /// question, and what precedes it must not depend on the conversation.
    /// </summary>
    private void Probe()
    {
        var alone = Cut(DefaultInstruction, QuestionProbe, Conversation.None);
        var longer = Cut(DefaultInstruction, QuestionProbe,
            new Conversation("Be brief.", [new ChatTurn(ChatTurn.User, "Hello?"), new ChatTurn(ChatTurn.Assistant, "Hello.")]));
        if (!alone.After.Contains(QuestionProbe, StringComparison.Ordinal) || !longer.After.Contains(QuestionProbe, StringComparison.Ordinal))
        {
            throw new TemplateException("the chat template writes the question before the chunks, so the prompt cannot be cut into prefix, chunks and question", 0);
        }
        if (alone.Prefix != longer.Prefix)
        {
            throw new TemplateException("the chat template writes its system turn differently when the conversation is longer, "
                + "so chunk caches computed after it could never be used", 0);
        }
    }

    private (string Prefix, string After) Cut(string instruction, string question, Conversation conversation)
    {
        var text = template.Render(Messages(instruction, question, conversation), addGenerationPrompt: true, now: now);
        var at = text.IndexOf(ChunksMarker, StringComparison.Ordinal);
        if (at < 0 || text.IndexOf(ChunksMarker, at + 1, StringComparison.Ordinal) >= 0)
        {
            throw new TemplateException($"the chat template does not write the {(systemTurn ? "system" : "first user")} message's text as given "
                + "(it is changed, left out or repeated), so the prompt cannot be cut where the chunks go", 0);
        }
        return (text[..at], text[(at + ChunksMarker.Length)..]);
    }

    private JsonArray Messages(string instruction, string question, Conversation conversation)
    {
        static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };
        var system = instruction.TrimEnd() + ChunksMarker + (conversation.System is { } s ? ChunkOpening + s : "");
        if (systemTurn)
        {
            JsonArray messages = [Message("system", system)];
            foreach (var turn in conversation.History)
            {
                messages.Add(Message(turn.Role, turn.Content));
            }
            messages.Add(Message(ChatTurn.User, question));
            return messages;
        }
        var earlier = string.Concat(conversation.History.Select(t => $"{ChunkOpening}{(t.Role == ChatTurn.User ? "User" : "Assistant")}: {t.Content}"));
        return [Message(ChatTurn.User, system + earlier + ChunkOpening + question)];
    }
}
