using System.Globalization;
using System.Text;
using ChunkKv.Chunking;
using ChunkKv.Inference.Tests;
using ChunkKv.Inference.Tokenization;
using FsCheck;
using FsCheck.Fluent;

namespace ChunkKv.Tests.Chunking;

/// <summary>
/// The chunker as a property, with FsCheck: for random Unicode documents (CJK, emoji, text without
/// spaces, only spaces, very long words, mixed scripts, combining marks), every real tokenizer the
/// tests have, and any target from 8 to 1024 tokens with and without overlap, chunking ends, covers
/// the text once and in order, and no chunk is over the target (unless it is one code point).
/// A failing case is shrunk and printed with its seed.
/// </summary>
public sealed class ChunkerProperties
{
    public static TheoryData<string> Tokenizers => new(["qwen3", "llama3", "llama2"]);

    private static readonly Dictionary<string, Lazy<Tokenizer>> Loaded = new[] { "qwen3", "llama3", "llama2" }
        .ToDictionary(name => name, name => new Lazy<Tokenizer>(() => Tokenizer.FromDirectory(Fixtures.TokenizerDirectory(name))));

    // Pieces a document is drawn from: each a kind of text that has broken chunkers.
    private static readonly string[] Fragments =
    [
        "The cache of layer seven holds keys. ", "Short. ", "Is it? Yes!\n", "\n\n", "\n", " ", "     ", "\t",
        "丂丂丂丂丂丂丂丂", "日本語のテキストと中文文本。", "한국어 텍스트", "🤖👍🏽🎉🇯🇵👩‍👩‍👧", "Ελληνικά русский ", "e\u0301\u0308a\u030a",
        "supercalifragilisticexpialidocious", "https://example.com/a/very/long/path?with=query&and=more", "0123456789",
        "snake_case_identifier_without_any_spaces_at_all", "# Heading\n", "```\ncode()\n```\n", "- item\n",
    ];

    private static Gen<string> Documents() =>
        from parts in Gen.ListOf(Gen.OneOf(
            Gen.Elements(Fragments),
            // Long unbroken runs of one character or one fragment: the case that hung.
            from fragment in Gen.Elements(Fragments)
            from repeat in Gen.Choose(2, 120)
            select string.Concat(Enumerable.Repeat(fragment.Trim().Length == 0 ? "丂" : fragment.Trim(), repeat))))
        select string.Concat(parts);

    private sealed record Case(string Text, int Target, int Overlap, DocumentFormat Format);

    private static Gen<Case> Cases() =>
        from text in Documents()
        from target in Gen.OneOf(Gen.Choose(8, 64), Gen.Choose(8, 1024))
        from withOverlap in Gen.Elements(false, true)
        from format in Gen.Elements(DocumentFormat.PlainText, DocumentFormat.Markdown)
        select new Case(text, target, withOverlap ? target / 4 : 0, format);

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void Chunking_ends_covers_the_text_in_order_and_respects_the_target(string name)
    {
        var tokenizer = Loaded[name].Value;
        var property = Prop.ForAll(Cases().ToArbitrary(), test =>
        {
            var chunker = new Chunker(tokenizer, new ChunkingOptions { TargetTokens = test.Target, OverlapTokens = test.Overlap });
            // A hang is a failure too: the split runs on a worker and must end well within its time.
            var split = Task.Run(() => chunker.Split(test.Text, test.Format));
            Assert.True(split.Wait(TimeSpan.FromSeconds(30)), "chunking did not end");
            CheckChunks(tokenizer, test, split.Result);
        });
        property.Check(Config.QuickThrowOnFailure.WithMaxTest(120).WithParallelRunConfig(null));
    }

    [Fact]
    public void An_overlap_that_opens_with_trimmed_whitespace_still_moves_the_next_chunk_forward()
    {
        // The case the property found (llama2, a run of "丂" then Markdown code fences, overlap on):
        // the overlap began with whitespace the chunk before had been trimmed of, so two chunks started alike.
        var tokenizer = Loaded["llama2"].Value;
        var property = Prop.ForAll(Cases().ToArbitrary(), test =>
            CheckChunks(tokenizer, test, new Chunker(tokenizer, new ChunkingOptions { TargetTokens = test.Target, OverlapTokens = test.Overlap })
                .Split(test.Text, test.Format)));
        var replay = new Replay(new Rnd(14460256856301708121, 3590803127210185953), Microsoft.FSharp.Core.FSharpOption<int>.Some(88));
        property.Check(Config.QuickThrowOnFailure.WithReplay(replay).WithMaxTest(1).WithParallelRunConfig(null));
    }

    private static void CheckChunks(Tokenizer tokenizer, Case test, IReadOnlyList<TextChunk> chunks)
    {
        var text = test.Text;
        var coveredUpTo = 0; // everything before this index is in a chunk or whitespace
        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i];
            Assert.Equal(i, chunk.Ordinal);
            Assert.Equal(text[chunk.CharStart..chunk.CharEnd], chunk.Text);
            Assert.Equal(tokenizer.Encode(chunk.Text, addSpecialTokens: false), chunk.TokenIds);
            Assert.True(chunk.TokenIds.Length <= test.Target || IsOneCodePoint(chunk.Text),
                $"chunk {i} has {chunk.TokenIds.Length} tokens, over the target {test.Target}: {chunk.Text}");
            if (i > 0)
            {
                Assert.True(chunk.CharStart > chunks[i - 1].CharStart, "chunks move forward");
                Assert.True(test.Overlap > 0 || chunk.CharStart >= chunks[i - 1].CharEnd, "chunks overlap though no overlap was asked for");
            }
            Assert.True(string.IsNullOrWhiteSpace(text[Math.Min(coveredUpTo, chunk.CharStart)..chunk.CharStart]),
                $"text before chunk {i} is in no chunk");
            coveredUpTo = Math.Max(coveredUpTo, chunk.CharEnd);
        }
        Assert.True(string.IsNullOrWhiteSpace(text[coveredUpTo..]), "the end of the text is in no chunk");
    }

    private static bool IsOneCodePoint(string text) => text.EnumerateRunes().Count() == 1;

    [Theory]
    [InlineData("llama2", 255)]
    [InlineData("llama2", 8)]
    [InlineData("qwen3", 8)]
    public void A_long_run_of_CJK_after_other_text_is_chunked(string name, int target)
    {
        // Reproduced the hang and the out-of-range error: 400 × U+4E02 is over the target as one run.
        var tokenizer = Loaded[name].Value;
        var text = "Some text first. " + new string('\u4e02', 400);
        var chunks = new Chunker(tokenizer, new ChunkingOptions { TargetTokens = target }).Split(text);
        CheckChunks(tokenizer, new Case(text, target, 0, DocumentFormat.PlainText), chunks);
        Assert.Equal(400, chunks.Sum(c => c.Text.Count(ch => ch == '\u4e02')));
    }

    [Theory]
    [InlineData("Short. supercalifragilisticexpialidocious0123456789")]
    [InlineData("word supercalifragilisticexpialidocious0123456789 word")]
    [InlineData("\n\nsupercalifragilisticexpialidocious0123456789")]
    public void A_word_that_fits_only_with_its_leading_space_is_cut_further(string text)
    {
        // Found by the property on CI: qwen3 encodes " supercalifragilisticexpialidocious0123456789"
        // in 20 tokens and the trimmed word in 21, so a 20-token chunk of that word came out at 21.
        var tokenizer = Loaded["qwen3"].Value;
        var chunks = new Chunker(tokenizer, new ChunkingOptions { TargetTokens = 20 }).Split(text);
        CheckChunks(tokenizer, new Case(text, 20, 0, DocumentFormat.PlainText), chunks);
    }
}
