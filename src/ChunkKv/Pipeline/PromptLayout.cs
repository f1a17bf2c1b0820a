using System.Text.Json;
using System.Text.Json.Nodes;
using ChunkKv.Fusion;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Pipeline;

/// <summary>
/// The one prompt layout of training and inference: <c>tok(prefix) ++ tok(chunk₁ + separator) ++ … ++
/// tok(question template)</c>, each piece tokenized on its own so a chunk is the same tokens wherever
/// it appears (what makes its cache reusable). A model states its pieces in <c>tokenizer_config.json</c>
/// under <c>chunkkv_layout</c>, the way a chat template would; other models get <see cref="Default"/>.
/// </summary>
public sealed record PromptLayout(string Prefix, string ChunkSeparator, string QuestionTemplate, string AnswerPrefix)
{
    public const string QuestionSlot = "{question}";

    public static PromptLayout Default { get; } = new("Answer the question from the notes below.\n\n", "\n\n", "Question: {question}\nAnswer:", " ");

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
            Field("question_template", Default.QuestionTemplate), Field("answer_prefix", Default.AnswerPrefix));
        return result.QuestionTemplate.Contains(QuestionSlot, StringComparison.Ordinal)
            ? result
            : throw new TokenizerFormatException($"chunkkv_layout.question_template has no {QuestionSlot}");
    }

    /// <summary>The prompt's pieces in tokens; <paramref name="prefix"/> overrides the layout's (a collection's own system text).</summary>
    public FusionPrompt Build(Tokenizer tokenizer, IEnumerable<string> chunks, string question, string? prefix = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        // Special tokens the model's post-processor puts first (Llama's BOS) belong to the prefix: one per prompt.
        var leading = tokenizer.Encode("", addSpecialTokens: true);
        int[] prefixIds = [.. leading, .. tokenizer.Encode(prefix ?? Prefix, addSpecialTokens: false)];
        var chunkIds = chunks.Select(chunk => tokenizer.Encode(chunk + ChunkSeparator, addSpecialTokens: false)).ToList();
        var questionIds = tokenizer.Encode(QuestionTemplate.Replace(QuestionSlot, question, StringComparison.Ordinal), addSpecialTokens: false);
        return new FusionPrompt(prefixIds, chunkIds, questionIds);
    }
}
