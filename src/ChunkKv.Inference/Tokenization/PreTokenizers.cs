using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ChunkKv.Inference.Tokenization;

/// <summary>
/// The <c>pre_tokenizer</c> of tokenizer.json: splits normalized text into words that BPE encodes
/// one by one. Byte-level splitting also maps each word's UTF-8 bytes to the byte alphabet.
/// </summary>
internal static class PreTokenizers
{
    /// <summary>GPT-2's split, used by ByteLevel when <c>use_regex</c> is on.</summary>
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static Func<List<string>, List<string>> Parse(JsonNode? node)
    {
        if (node is null)
        {
            return words => words;
        }
        var type = node["type"]?.GetValue<string>();
        switch (type)
        {
            case "Sequence":
                var steps = (node["pretokenizers"] as JsonArray ?? []).Select(Parse).ToArray();
                return words => steps.Aggregate(words, (current, step) => step(current));
            case "Split":
                var behavior = node["behavior"]?.GetValue<string>();
                if (behavior != "Isolated" || node["invert"]?.GetValue<bool>() == true)
                {
                    throw new TokenizerFormatException($"pre-tokenizer Split: behavior '{behavior}' is not supported (Isolated is)");
                }
                var pattern = node["pattern"]?["Regex"]?.GetValue<string>()
                    ?? Regex.Escape(node["pattern"]?["String"]?.GetValue<string>() ?? "");
                var regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
                return words => words.SelectMany(word => SplitIsolated(regex, word)).ToList();
            case "ByteLevel":
                var prefixSpace = node["add_prefix_space"]?.GetValue<bool>() ?? false;
                var useRegex = node["use_regex"]?.GetValue<bool>() ?? true;
                var gpt2 = useRegex ? new Regex(Gpt2Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant) : null;
                return words =>
                {
                    var result = new List<string>();
                    foreach (var word in words)
                    {
                        var text = prefixSpace && !word.StartsWith(' ') ? " " + word : word;
                        foreach (var piece in gpt2 is null ? [text] : SplitIsolated(gpt2, text))
                        {
                            result.Add(ToByteAlphabet(piece));
                        }
                    }
                    return result;
                };
            case "Metaspace":
                var replacement = node["replacement"]?.GetValue<string>() ?? "\u2581";
                var scheme = node["prepend_scheme"]?.GetValue<string>()
                    ?? (node["add_prefix_space"]?.GetValue<bool>() == false ? "never" : "always");
                var split = node["split"]?.GetValue<bool>() ?? true;
                return words =>
                {
                    var result = new List<string>();
                    for (var i = 0; i < words.Count; i++)
                    {
                        var text = words[i].Replace(" ", replacement, StringComparison.Ordinal);
                        var prepend = scheme == "always" || (scheme == "first" && i == 0);
                        if (prepend && !text.StartsWith(replacement, StringComparison.Ordinal))
                        {
                            text = replacement + text;
                        }
                        result.AddRange(split ? SplitBefore(text, replacement) : [text]);
                    }
                    return result;
                };
            default:
                throw new TokenizerFormatException($"pre-tokenizer type '{type}' is not supported");
        }
    }

    public static string ToByteAlphabet(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = ByteLevelAlphabet.ByteToChar[bytes[i]];
        }
        return new string(chars);
    }

    /// <summary>Matches become words, and so does the text between them.</summary>
    /// <remarks>
    /// .NET's regular expressions read UTF-16 units, the Rust and JavaScript tokenizers read code
    /// points: to .NET a letter or digit outside the Basic Multilingual Plane (𝟙, 𝐀) is two surrogates
    /// of no category, and a pattern could even split an emoji's pair. So text with surrogate pairs is
    /// matched as a stand-in where each pair is one BMP character of the same Unicode category
    /// (<see cref="CodePointView"/>), and the matches are mapped back onto the text.
    /// </remarks>
    private static IEnumerable<string> SplitIsolated(Regex regex, string text)
    {
        var view = CodePointView.Of(text);
        var last = 0;
        foreach (Match match in regex.Matches(view.Text))
        {
            if (match.Length == 0)
            {
                continue;
            }
            var (start, end) = (view.Original(match.Index), view.Original(match.Index + match.Length));
            if (start > last)
            {
                yield return text[last..start];
            }
            yield return text[start..end];
            last = end;
        }
        if (last < text.Length)
        {
            yield return text[last..];
        }
    }

    /// <summary>Metaspace split: a new word starts at each replacement character.</summary>
    private static IEnumerable<string> SplitBefore(string text, string marker)
    {
        var start = 0;
        for (var i = 1; i < text.Length; i++)
        {
            if (string.CompareOrdinal(text, i, marker, 0, marker.Length) == 0)
            {
                yield return text[start..i];
                start = i;
            }
        }
        if (start < text.Length)
        {
            yield return text[start..];
        }
    }
}
