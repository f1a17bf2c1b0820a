using System.Globalization;
using System.Text;

namespace ChunkKv.Inference.Tokenization;

/// <summary>
/// Text as a regular expression over code points would see it, for .NET's regex engine, which reads
/// UTF-16 units: each surrogate pair becomes one BMP character of the same general category (a
/// mathematical digit a digit, an emoji a symbol), with a map from positions in the stand-in back to
/// positions in the text. Text without surrogates is its own view.
/// </summary>
internal sealed class CodePointView
{
    private readonly int[]? originals; // stand-in index → text index, one past the end included

    private CodePointView(string text, int[]? originals)
    {
        Text = text;
        this.originals = originals;
    }

    /// <summary>What the regex reads.</summary>
    public string Text { get; }

    /// <summary>The position in the original text of a position in <see cref="Text"/>.</summary>
    public int Original(int index) => originals is null ? index : originals[index];

    public static CodePointView Of(string text)
    {
        if (!text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF'))
        {
            return new CodePointView(text, null);
        }
        var view = new StringBuilder(text.Length);
        var originals = new List<int>(text.Length + 1);
        for (var i = 0; i < text.Length; i++)
        {
            originals.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                view.Append(StandIn(CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]))));
                i++;
            }
            else
            {
                view.Append(text[i]); // a lone surrogate stays one: it matches nothing a category names
            }
        }
        originals.Add(text.Length);
        return new CodePointView(view.ToString(), [.. originals]);
    }

    /// <summary>
    /// A BMP character of each category, none of them ASCII, so no pattern's literal characters (the
    /// contractions' letters, digits, quotes, spaces) can match a stand-in by chance.
    /// </summary>
    private static char StandIn(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u03A9',        // Ω
        UnicodeCategory.LowercaseLetter => '\u03C9',        // ω
        UnicodeCategory.TitlecaseLetter => '\u01C5',        // ǅ
        UnicodeCategory.ModifierLetter => '\u02B0',         // ʰ
        UnicodeCategory.OtherLetter => '\u05D0',            // א
        UnicodeCategory.NonSpacingMark => '\u0301',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',     // ٠
        UnicodeCategory.LetterNumber => '\u2160',           // Ⅰ
        UnicodeCategory.OtherNumber => '\u00B2',            // ²
        UnicodeCategory.ConnectorPunctuation => '\u203F',   // ‿
        UnicodeCategory.DashPunctuation => '\u2010',        // ‐
        UnicodeCategory.OpenPunctuation => '\u2045',        // ⁅
        UnicodeCategory.ClosePunctuation => '\u2046',       // ⁆
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00B6',       // ¶
        UnicodeCategory.MathSymbol => '\u00D7',             // ×
        UnicodeCategory.CurrencySymbol => '\u00A3',         // £
        UnicodeCategory.ModifierSymbol => '\u00B4',         // ´
        UnicodeCategory.OtherSymbol => '\u00A9',            // ©
        UnicodeCategory.Format => '\u200B',
        UnicodeCategory.PrivateUse => '\uE000',
        _ => '\u0378',                                      // unassigned
    };
}
