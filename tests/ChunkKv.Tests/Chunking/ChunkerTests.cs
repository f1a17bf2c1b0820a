using System.Globalization;
using System.Text;
using ChunkKv.Chunking;
using ChunkKv.Inference.Tests;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Tests.Chunking;

/// <summary>The chunker on real tokenizers (Qwen3 byte-level BPE, Llama 2 metaspace BPE).</summary>
public sealed class ChunkerTests
{
    private static readonly Lazy<Tokenizer> Qwen3 = new(() => Tokenizer.FromDirectory(Fixtures.TokenizerDirectory("qwen3")));
    private static readonly Lazy<Tokenizer> Llama2 = new(() => Tokenizer.FromDirectory(Fixtures.TokenizerDirectory("llama2")));

    private static Tokenizer Named(string name) => name == "llama2" ? Llama2.Value : Qwen3.Value;

    [Theory]
    [InlineData("qwen3", 64, 0)]
    [InlineData("qwen3", 256, 32)]
    [InlineData("llama2", 100, 20)]
    public void Chunks_are_exact_spans_of_the_document_within_the_target_and_cover_all_of_it(string tokenizer, int target, int overlap)
    {
        var text = Corpus.Prose(paragraphs: 30, seed: 3) + "\n\n" + Corpus.Unspaced(900) + "\n\n" + Corpus.Prose(paragraphs: 5, seed: 4);
        var chunker = new Chunker(Named(tokenizer), new ChunkingOptions { TargetTokens = target, OverlapTokens = overlap });

        var chunks = chunker.Split(text);

        Assert.True(chunks.Count > 10);
        var covered = new bool[text.Length];
        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i];
            Assert.Equal(i, chunk.Ordinal);
            Assert.Equal(text[chunk.CharStart..chunk.CharEnd], chunk.Text);
            Assert.Equal(Named(tokenizer).Encode(chunk.Text, addSpecialTokens: false), chunk.TokenIds);
            Assert.InRange(chunk.TokenIds.Length, 1, target);
            Assert.False(char.IsWhiteSpace(chunk.Text[0]) || char.IsWhiteSpace(chunk.Text[^1]));
            if (i > 0)
            {
                Assert.True(chunk.CharStart > chunks[i - 1].CharStart, "chunks move forward");
                Assert.True(overlap > 0 || chunk.CharStart >= chunks[i - 1].CharEnd, "no overlap was asked for");
            }
            Array.Fill(covered, true, chunk.CharStart, chunk.CharEnd - chunk.CharStart);
        }
        var missed = Enumerable.Range(0, text.Length).Where(c => !covered[c] && !char.IsWhiteSpace(text[c])).ToList();
        Assert.Empty(missed);
    }

    [Fact]
    public void Chunks_end_at_paragraph_ends_when_paragraphs_fit()
    {
        var text = Corpus.Prose(paragraphs: 40, seed: 5);
        var chunks = new Chunker(Qwen3.Value, new ChunkingOptions { TargetTokens = 256 }).Split(text);

        Assert.True(chunks.Count > 3);
        foreach (var chunk in chunks)
        {
            Assert.True(chunk.CharEnd == text.Length || text.AsSpan(chunk.CharEnd).StartsWith("\n\n"),
                $"chunk {chunk.Ordinal} ends inside a paragraph: ...{chunk.Text[^30..]}");
            Assert.True(chunk.TokenIds.Length >= 128, "cutting at a paragraph still leaves the chunk at least half full");
        }
    }

    [Fact]
    public void Overlap_repeats_whole_sentences_of_the_previous_chunk_up_to_the_overlap()
    {
        var text = Corpus.Prose(paragraphs: 20, seed: 6);
        var chunks = new Chunker(Qwen3.Value, new ChunkingOptions { TargetTokens = 128, OverlapTokens = 40 }).Split(text);

        var overlapping = 0;
        for (var i = 1; i < chunks.Count; i++)
        {
            var (previous, chunk) = (chunks[i - 1], chunks[i]);
            if (chunk.CharStart < previous.CharEnd)
            {
                overlapping++;
                var shared = text[chunk.CharStart..previous.CharEnd];
                Assert.EndsWith(shared, previous.Text, StringComparison.Ordinal);
                Assert.InRange(Qwen3.Value.Encode(shared, addSpecialTokens: false).Length, 1, 40);
            }
        }
        Assert.True(overlapping > chunks.Count / 2, $"only {overlapping} of {chunks.Count} chunks overlap");
    }

    [Fact]
    public void Markdown_headings_stay_with_their_section_and_fenced_code_stays_whole()
    {
        var markdown = new StringBuilder();
        for (var section = 0; section < 12; section++)
        {
            markdown.Append(CultureInfo.InvariantCulture, $"## Section {section}\n\n").Append(Corpus.Prose(paragraphs: 1, seed: 10 + section)).Append("\n\n");
            if (section % 4 == 1)
            {
                markdown.Append("```python\ndef f(x):\n\n    return x + 1\n```\n\n");
            }
        }
        var text = markdown.ToString();
        var chunks = new Chunker(Qwen3.Value, new ChunkingOptions { TargetTokens = 200 }).Split(text, DocumentFormat.Markdown);

        foreach (var chunk in chunks)
        {
            var lastLine = chunk.Text.Split('\n')[^1];
            Assert.False(lastLine.StartsWith('#'), $"chunk {chunk.Ordinal} ends with a heading");
            var fences = chunk.Text.Split("```").Length - 1;
            Assert.True(fences % 2 == 0, $"chunk {chunk.Ordinal} splits a code block");
        }
        // Sections are shorter than a chunk here, so every chunk starts at a heading.
        Assert.All(chunks, c => Assert.StartsWith("## Section", c.Text, StringComparison.Ordinal));
    }

    [Fact]
    public void Plain_text_mode_treats_hash_lines_as_text()
    {
        var chunks = new Chunker(Qwen3.Value, new ChunkingOptions { TargetTokens = 16 }).Split("# not a heading\nbut text that runs on and on and on.");
        Assert.StartsWith("# not a heading\nbut", chunks[0].Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n\n \t ")]
    public void A_blank_document_has_no_chunks(string text) => Assert.Empty(new Chunker(Qwen3.Value).Split(text));

    [Theory]
    [InlineData(4, 0)]
    [InlineData(100, 51)]
    [InlineData(100, -1)]
    public void Options_out_of_range_are_refused(int target, int overlap) =>
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new Chunker(Qwen3.Value, new ChunkingOptions { TargetTokens = target, OverlapTokens = overlap }));
}
