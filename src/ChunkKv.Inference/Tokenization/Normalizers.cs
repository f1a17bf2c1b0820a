using System.Text;
using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Tokenization;

/// <summary>The <c>normalizer</c> of tokenizer.json: text to text before splitting.</summary>
internal static class Normalizers
{
    public static Func<string, string> Parse(JsonNode? node)
    {
        if (node is null)
        {
            return text => text;
        }
        var type = node["type"]?.GetValue<string>();
        switch (type)
        {
            case "NFC":
                return text => text.Normalize(NormalizationForm.FormC);
            case "NFKC":
                return text => text.Normalize(NormalizationForm.FormKC);
            case "NFD":
                return text => text.Normalize(NormalizationForm.FormD);
            case "NFKD":
                return text => text.Normalize(NormalizationForm.FormKD);
            case "Lowercase":
                return text => text.ToLowerInvariant();
            case "Prepend":
                var prefix = node["prepend"]!.GetValue<string>();
                return text => text.Length == 0 ? text : prefix + text;
            case "Replace":
                var pattern = node["pattern"]?["String"]?.GetValue<string>()
                    ?? throw new TokenizerFormatException("normalizer Replace: only String patterns are supported");
                var content = node["content"]!.GetValue<string>();
                return text => text.Replace(pattern, content, StringComparison.Ordinal);
            case "Sequence":
                var steps = (node["normalizers"] as JsonArray ?? []).Select(Parse).ToArray();
                return text => steps.Aggregate(text, (current, step) => step(current));
            default:
                throw new TokenizerFormatException($"normalizer type '{type}' is not supported");
        }
    }
}
