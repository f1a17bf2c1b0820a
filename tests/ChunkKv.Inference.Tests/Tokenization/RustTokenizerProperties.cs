using System.Text;
using ChunkKv.Inference.Tokenization;
using FsCheck;
using FsCheck.Fluent;

namespace ChunkKv.Inference.Tests.Tokenization;

/// <summary>
/// Our tokenizer against Hugging Face's own Rust tokenizers (Tokenizers.DotNet, in process) as a
/// property over random Unicode text: ASCII, accents and combining marks, CJK, emoji with skin tones
/// and joiners, letters and digits outside the Basic Multilingual Plane, spaces, tabs and newlines.
/// Both add the model's special tokens (the Rust wrapper always does).
/// </summary>
public sealed class RustTokenizerProperties
{
    /// <summary>Ranges of code points to draw from, each a kind of text a document holds.</summary>
    private static readonly (int First, int Last)[] Ranges =
    [
        (0x20, 0x7E), (0x20, 0x7E), (0x20, 0x7E),  // ASCII, most of all
        (0xC0, 0x17F),                            // Latin with accents
        (0x300, 0x36F),                           // combining marks
        (0x391, 0x3C9), (0x410, 0x44F),           // Greek, Cyrillic
        (0x4E00, 0x4FFF), (0x3040, 0x30FF),       // CJK, kana
        (0xAC00, 0xAC7F),                         // Hangul
        (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF),   // emoji
        (0x1F3FB, 0x1F3FF),                       // skin tones
        (0x1D400, 0x1D7FF),                       // mathematical letters and digits
        (0x20000, 0x2A6DF),                       // CJK extension B
        (0x30, 0x39),                             // digits
    ];

    private static readonly string[] Separators = [" ", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\u200D", "'s ", "...", "-"];

    private static Gen<string> Texts() =>
        from parts in Gen.ListOf(Gen.OneOf(
            from range in Gen.Elements(Ranges)
            from length in Gen.Choose(1, 8)
            from points in Gen.ArrayOf(Gen.Choose(range.First, range.Last), length)
            select string.Concat(points.Where(p => p is < 0xD800 or > 0xDFFF).Select(char.ConvertFromUtf32)),
            Gen.Elements(Separators)))
        select string.Concat(parts);

    public static TheoryData<string> Models => new(["qwen3", "llama3"]);

    [Theory]
    [MemberData(nameof(Models))]
    public void Ids_equal_the_Rust_tokenizers_on_random_unicode(string model)
    {
        var directory = Fixtures.TokenizerDirectory(model);
        var ours = Tokenizer.FromDirectory(directory);
        using var rust = new Tokenizers.DotNet.Tokenizer(Path.Combine(directory, "tokenizer.json"));
        var property = Prop.ForAll(Texts().ToArbitrary(), text =>
        {
            var expected = rust.Encode(text).Select(id => (int)id).ToArray();
            var actual = ours.Encode(text, addSpecialTokens: true);
            Assert.True(expected.SequenceEqual(actual),
                $"{Escape(text)}: Rust [{string.Join(',', expected)}], ours [{string.Join(',', actual)}]");
        });
        property.Check(Config.QuickThrowOnFailure.WithMaxTest(300).WithParallelRunConfig(null));
    }

    private static string Escape(string text)
    {
        var escaped = new StringBuilder();
        foreach (var rune in text.EnumerateRunes())
        {
            escaped.Append(rune.Value is >= 0x20 and < 0x7F ? rune.ToString() : $"\\u{{{rune.Value:X}}}");
        }
        return escaped.ToString();
    }
}
