namespace ChunkKv.Inference.Tokenization.Jinja;

/// <summary>
/// A template this renderer cannot render: a syntax error, or a construct outside the subset real chat
/// templates use (named in the message, with its line), or a value used the wrong way. Never a wrong prompt.
/// </summary>
public class TemplateException(string message, int line) : Exception(line > 0 ? $"{message} (template line {line})" : message)
{
    /// <summary>The template's line it happened at (1-based; 0 when unknown).</summary>
    public int Line { get; } = line;
}

/// <summary>
/// The template itself refused its input through <c>raise_exception(…)</c> (roles that do not alternate,
/// a system message where the model takes none): the caller's input is at fault, not the template.
/// </summary>
public sealed class TemplateRaisedException(string message, int line) : TemplateException(message, line)
{
    /// <summary>The template's own words.</summary>
    public string TemplateMessage { get; } = message;
}
