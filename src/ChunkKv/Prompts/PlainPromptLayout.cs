using System.Text;
using System.Text.Json.Nodes;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Prompts;

/// <summary>
/// A layout written out in plain text: <c>prefix ++ (chunk + separator)… ++ question template</c>. The
/// fixture model states its own under <c>chunkkv_layout</c> (what it was trained on); models without a
/// chat template get <see cref="PromptLayout.Default"/>. A conversation is written as the question
/// template would have written its earlier turns: the client's system text, then each question and answer.
/// </summary>
public sealed record PlainPromptLayout(string Prefix, string ChunkSeparator, string QuestionTemplate) : PromptLayout
{
    public const string QuestionSlot = "{question}";

    public override string Instruction => Prefix;

    public override string Origin => this == Default ? "default" : "chunkkv_layout";

    public override bool AddsSpecialTokens => true;

    public override string ChunkForm => ChunkSeparator;

    public override string PrefixText(string instruction) => instruction;

    public override string ChunkText(string chunk) => chunk + ChunkSeparator;

    public override string QuestionText(string instruction, string question, Conversation conversation)
    {
        ArgumentNullException.ThrowIfNull(conversation);
        var text = new StringBuilder();
        if (conversation.System is { } system)
        {
            text.Append(system).Append(ChunkSeparator);
        }
        var openQuestion = false;
        foreach (var turn in conversation.History)
        {
            if (turn.Role == ChatTurn.User)
            {
                text.Append(openQuestion ? ChunkSeparator : "").Append(Question(turn.Content));
                openQuestion = true;
            }
            else
            {
                text.Append(' ').Append(turn.Content).Append(ChunkSeparator);
                openQuestion = false;
            }
        }
        return text.Append(openQuestion ? ChunkSeparator : "").Append(Question(question)).ToString();
    }

    private string Question(string question) => QuestionTemplate.Replace(QuestionSlot, question, StringComparison.Ordinal);

    /// <exception cref="TokenizerFormatException">The question template has no <c>{question}</c>.</exception>
    internal static PlainPromptLayout FromJson(JsonNode layout)
    {
        string Field(string name, string fallback) => layout[name]?.GetValue<string>() ?? fallback;
        var result = new PlainPromptLayout(Field("prefix", Default.Prefix), Field("chunk_separator", Default.ChunkSeparator),
            Field("question_template", Default.QuestionTemplate));
        return result.QuestionTemplate.Contains(QuestionSlot, StringComparison.Ordinal)
            ? result
            : throw new TokenizerFormatException($"chunkkv_layout.question_template has no {QuestionSlot}");
    }
}
