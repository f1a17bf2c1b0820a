using System.Text.Json;
using System.Text.Json.Nodes;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Prompts;

/// <summary>
/// How a prompt is written in text, in the three parts chunk caching needs: <c>P</c> (the text before the
/// chunks: the collection's instruction, as the model's template frames a system turn), each chunk as
/// the prompt holds it, and <c>Q</c> (the text after them: the client's system text and earlier turns,
/// the question, the opening of the answer). Each part is tokenized on its own, so a chunk is the same
/// tokens wherever it appears and its cache hits. The parts are tokenized by a collection's
/// <see cref="Collections.CollectionContext"/>, nowhere else.
/// </summary>
public abstract record PromptLayout
{
    /// <summary>The collection's instruction when its settings give none.</summary>
    public const string DefaultInstruction = "Answer the question from the notes below.";

    /// <summary>Today's plain layout, for models with neither a chat template nor a <c>chunkkv_layout</c>.</summary>
    public static PlainPromptLayout Default { get; } = new("Answer the question from the notes below.\n\n", "\n\n", "Question: {question}\nAnswer:");

    /// <summary>The instruction a collection starts with when its settings name none (its "prefix").</summary>
    public abstract string Instruction { get; }

    /// <summary>Where the layout came from, for people reading it (<c>chat template</c>, <c>chunkkv_layout</c>, <c>default</c>).</summary>
    public abstract string Origin { get; }

    /// <summary>
    /// Whether <c>P</c> is tokenized with the special tokens the tokenizer adds (Llama's BOS): yes for a
    /// plain layout; no for a chat template, which writes them itself (as <c>apply_chat_template</c> does).
    /// </summary>
    public abstract bool AddsSpecialTokens { get; }

    /// <summary>What decides a chunk's prompt form, for keys that must change when it does.</summary>
    public abstract string ChunkForm { get; }

    /// <summary><c>P</c>: the text before the chunks, for a collection whose instruction is <paramref name="instruction"/>.</summary>
    public abstract string PrefixText(string instruction);

    /// <summary>A chunk as the prompt holds it.</summary>
    public abstract string ChunkText(string chunk);

    /// <summary><c>Q</c>: the text after the chunks, for this question in this conversation.</summary>
    /// <param name="instruction">The collection's instruction (a template's layout checks its <c>P</c> is unchanged by the conversation).</param>
    /// <exception cref="Inference.Tokenization.Jinja.TemplateRaisedException">The model's template refused the conversation.</exception>
    public abstract string QuestionText(string instruction, string question, Conversation conversation);

    /// <summary>
    /// The model's layout: <c>chunkkv_layout</c> in <c>tokenizer_config.json</c> (the fixture's), else one
    /// cut from the model's chat template, else <see cref="Default"/>.
    /// </summary>
    /// <exception cref="TokenizerFormatException">The configuration is malformed.</exception>
    /// <exception cref="Inference.Tokenization.Jinja.TemplateException">The chat template cannot be rendered, or cannot be cut into the three parts.</exception>
    public static PromptLayout FromModelDirectory(string directory)
    {
        var path = Path.Combine(directory, "tokenizer_config.json");
        if (File.Exists(path))
        {
            JsonNode? layout;
            try
            {
                layout = JsonNode.Parse(File.ReadAllText(path))?["chunkkv_layout"];
            }
            catch (JsonException e)
            {
                throw new TokenizerFormatException($"tokenizer_config.json is not valid JSON: {e.Message}", e);
            }
            if (layout is not null)
            {
                return PlainPromptLayout.FromJson(layout);
            }
        }
        return ChatTemplate.FromModelDirectory(directory) is { } template ? new ChatTemplatePromptLayout(template) : Default;
    }
}
