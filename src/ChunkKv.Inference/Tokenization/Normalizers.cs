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
                return UnicodeForm(NormalizationForm.FormC, type);
            case "NFKC":
                return UnicodeForm(NormalizationForm.FormKC, type);
            case "NFD":
                return UnicodeForm(NormalizationForm.FormD, type);
            case "NFKD":
                return UnicodeForm(NormalizationForm.FormKD, type);
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

    /// <summary>
    /// A Unicode normalization form. .NET normalizes through ICU; in invariant globalization mode
    /// (<c>DOTNET_SYSTEM_GLOBALIZATION_INVARIANT</c>) it leaves non-ASCII text as it is, and the ids
    /// would silently differ from Hugging Face's, so that is refused when the tokenizer loads.
    /// </summary>
    private static Func<string, string> UnicodeForm(NormalizationForm form, string type)
    {
        if (!NormalizationWorks.Value)
        {
            throw new TokenizerFormatException(
                $"this tokenizer's {type} normalizer needs ICU (Debian: libicu72), but the process runs in invariant globalization mode; unset DOTNET_SYSTEM_GLOBALIZATION_INVARIANT or install ICU");
        }
        return text => text.Normalize(form);
    }

    private static readonly Lazy<bool> NormalizationWorks = new(() =>
    {
        try
        {
            return "e\u0301".Normalize(NormalizationForm.FormC) == "\u00e9";
        }
        catch (PlatformNotSupportedException)
        {
            return false;
        }
    });
}
