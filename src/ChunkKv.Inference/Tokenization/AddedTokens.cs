using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ChunkKv.Inference.Tokenization;

/// <summary>
/// tokenizer.json's <c>added_tokens</c> (special tokens such as <c>&lt;|im_start|&gt;</c>): found in the raw
/// text before anything else and never split; the text between them is encoded normally.
/// </summary>
internal sealed class AddedTokens
{
    private readonly Regex? pattern;
    private readonly Dictionary<string, Token> byContent = new(StringComparer.Ordinal);

    public sealed record Token(int Id, string Content, bool Special, bool LeftStrip, bool RightStrip);

    public AddedTokens(JsonArray? tokens)
    {
        foreach (var node in tokens ?? [])
        {
            var token = new Token(node!["id"]!.GetValue<int>(), node["content"]!.GetValue<string>(),
                node["special"]?.GetValue<bool>() ?? false, node["lstrip"]?.GetValue<bool>() ?? false,
                node["rstrip"]?.GetValue<bool>() ?? false);
            byContent[token.Content] = token;
            ById[token.Id] = token;
        }
        if (byContent.Count > 0)
        {
            // Longest first so that a token that is a prefix of another never wins.
            var alternatives = byContent.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape);
            pattern = new Regex(string.Join('|', alternatives), RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
    }

    public Dictionary<int, Token> ById { get; } = [];

    public bool TryGet(string content, out Token token) => byContent.TryGetValue(content, out token!);

    /// <summary>The text as pieces: either an added token or plain text between them.</summary>
    public IEnumerable<(Token? Token, string Text)> Split(string text)
    {
        if (pattern is null)
        {
            yield return (null, text);
            yield break;
        }
        var last = 0;
        foreach (Match match in pattern.Matches(text))
        {
            var token = byContent[match.Value];
            var end = match.Index;
            if (token.LeftStrip)
            {
                while (end > last && char.IsWhiteSpace(text[end - 1]))
                {
                    end--;
                }
            }
            if (end > last)
            {
                yield return (null, text[last..end]);
            }
            yield return (token, match.Value);
            last = match.Index + match.Length;
            if (token.RightStrip)
            {
                while (last < text.Length && char.IsWhiteSpace(text[last]))
                {
                    last++;
                }
            }
        }
        if (last < text.Length)
        {
            yield return (null, text[last..]);
        }
    }
}
