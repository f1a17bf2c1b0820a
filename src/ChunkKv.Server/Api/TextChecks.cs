using System.Globalization;

namespace ChunkKv.Server.Api;

/// <summary>What request text must be before it reaches a tokenizer, and how long it is as a person counts it.</summary>
internal static class TextChecks
{
    /// <summary>
    /// A UTF-16 surrogate that is not half of a pair: not text (no Unicode scalar value), and the
    /// tokenizer's normalisation refuses it. A JSON body can carry one as <c>"\ud800"</c>.
    /// </summary>
    public static bool HasLoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Characters as a reader counts them (text elements: an emoji or a letter with its accents is one).</summary>
    public static int Characters(string text) => new StringInfo(text).LengthInTextElements;

    public const string LoneSurrogate = "is not valid Unicode text: it holds a lone UTF-16 surrogate";
}
