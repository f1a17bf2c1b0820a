using System.Text.Json;
using System.Text.Json.Nodes;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Pipeline;

/// <summary>
/// The one prompt layout of training and inference: <c>tok(prefix) ++ tok(chunk₁ + separator) ++ … ++
/// tok(question template)</c>, each piece tokenized on its own so a chunk is the same tokens wherever
/// it appears (what makes its cache reusable). A model states its pieces in <c>tokenizer_config.json</c>
/// under <c>chunkkv_layout</c>, the way a chat template would; other models get <see cref="Default"/>.
/// The pieces are tokenized by a collection's <see cref="Collections.CollectionContext"/>, nowhere else.
/// </summary>
public sealed record PromptLayout(string Prefix, string ChunkSeparator, string QuestionTemplate)
{
    public const string QuestionSlot = "{question}";

    public static PromptLayout Default { get; } = new("Answer the question from the notes below.\n\n", "\n\n", "Question: {question}\nAnswer:");

    /// <summary>The layout in <c>tokenizer_config.json</c>'s <c>chunkkv_layout</c>, or <see cref="Default"/>.</summary>
    public static PromptLayout FromModelDirectory(string directory)
    {
        var path = Path.Combine(directory, "tokenizer_config.json");
        if (!File.Exists(path))
        {
            return Default;
        }
        JsonNode? layout;
        try
        {
            layout = JsonNode.Parse(File.ReadAllText(path))?["chunkkv_layout"];
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"tokenizer_config.json is not valid JSON: {e.Message}", e);
        }
        if (layout is null)
        {
            return Default;
        }
        string Field(string name, string fallback) => layout[name]?.GetValue<string>() ?? fallback;
        var result = new PromptLayout(Field("prefix", Default.Prefix), Field("chunk_separator", Default.ChunkSeparator),
            Field("question_template", Default.QuestionTemplate));
        return result.QuestionTemplate.Contains(QuestionSlot, StringComparison.Ordinal)
            ? result
            : throw new TokenizerFormatException($"chunkkv_layout.question_template has no {QuestionSlot}");
    }
}
