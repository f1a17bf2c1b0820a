using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Tokenization;

/// <summary>
/// tokenizer.json's <c>decoder</c>: a chain of steps over the list of token strings, ending in one
/// string. Invalid UTF-8 (a token boundary inside a character) becomes U+FFFD, as in Hugging Face.
/// </summary>
internal static class Decoders
{
    public static Func<List<string>, List<string>> Parse(JsonNode? node)
    {
        if (node is null)
        {
            return tokens => [string.Concat(tokens)];
        }
        var type = node["type"]?.GetValue<string>();
        switch (type)
        {
            case "Sequence":
                var steps = (node["decoders"] as JsonArray ?? []).Select(Parse).ToArray();
                return tokens => steps.Aggregate(tokens, (current, step) => step(current));
            case "ByteLevel":
                return tokens =>
                {
                    var bytes = new List<byte>();
                    foreach (var ch in tokens.SelectMany(t => t))
                    {
                        if (ByteLevelAlphabet.CharToByte.TryGetValue(ch, out var b))
                        {
                            bytes.Add(b);
                        }
                        else
                        {
                            bytes.AddRange(Encoding.UTF8.GetBytes(ch.ToString()));
                        }
                    }
                    return [Encoding.UTF8.GetString(bytes.ToArray())];
                };
            case "Replace":
                var pattern = node["pattern"]?["String"]?.GetValue<string>()
                    ?? throw new TokenizerFormatException("decoder Replace: only String patterns are supported");
                var content = node["content"]!.GetValue<string>();
                return tokens => tokens.Select(t => t.Replace(pattern, content, StringComparison.Ordinal)).ToList();
            case "ByteFallback":
                return ByteFallback;
            case "Fuse":
                return tokens => [string.Concat(tokens)];
            case "Strip":
                var strip = node["content"]!.GetValue<string>();
                var start = node["start"]?.GetValue<int>() ?? 0;
                var stop = node["stop"]?.GetValue<int>() ?? 0;
                return tokens => tokens.Select(t => Strip(t, strip, start, stop)).ToList();
            case "Metaspace":
                var replacement = node["replacement"]?.GetValue<string>() ?? "\u2581";
                var scheme = node["prepend_scheme"]?.GetValue<string>() ?? "always";
                return tokens => tokens.Select((t, i) =>
                {
                    var text = t.Replace(replacement, " ", StringComparison.Ordinal);
                    return i == 0 && scheme != "never" && text.StartsWith(' ') ? text[1..] : text;
                }).ToList();
            default:
                throw new TokenizerFormatException($"decoder type '{type}' is not supported");
        }
    }

    /// <summary>Runs of <c>&lt;0xXX&gt;</c> tokens become the text their bytes spell.</summary>
    private static List<string> ByteFallback(List<string> tokens)
    {
        var result = new List<string>();
        var pending = new List<byte>();
        void Flush()
        {
            if (pending.Count > 0)
            {
                result.Add(Encoding.UTF8.GetString(pending.ToArray()));
                pending.Clear();
            }
        }
        foreach (var token in tokens)
        {
            if (token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
                && byte.TryParse(token.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value))
            {
                pending.Add(value);
                continue;
            }
            Flush();
            result.Add(token);
        }
        Flush();
        return result;
    }

    private static string Strip(string token, string content, int start, int stop)
    {
        var from = 0;
        for (var i = 0; i < start && string.CompareOrdinal(token, from, content, 0, content.Length) == 0; i++)
        {
            from += content.Length;
        }
        var to = token.Length;
        for (var i = 0; i < stop && to - content.Length >= from
             && string.CompareOrdinal(token, to - content.Length, content, 0, content.Length) == 0; i++)
        {
            to -= content.Length;
        }
        return token[from..to];
    }
}
