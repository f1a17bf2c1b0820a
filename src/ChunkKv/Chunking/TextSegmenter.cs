using System.Text.RegularExpressions;

namespace ChunkKv.Chunking;

/// <summary>
/// Cuts a document into sentence-sized pieces that tile it exactly, each marked with the strength
/// of the boundary before it (section, paragraph, sentence). Markdown headings are glued to the
/// sentence after them, so a heading never ends a chunk, and fenced code blocks stay one piece.
/// </summary>
internal static partial class TextSegmenter
{
    private enum BlockKind { Prose, Heading, Code }

    private readonly record struct Block(int Start, int End, Boundary Before, BlockKind Kind);

    public static List<Piece> Segment(string text, DocumentFormat format)
    {
        var pieces = new List<Piece>();
        var cursor = 0;
        var glueNext = false;
        foreach (var block in Blocks(text, format))
        {
            var first = true;
            foreach (var end in block.Kind == BlockKind.Prose ? SentenceEnds(text, block.Start, block.End) : [block.End])
            {
                if (glueNext)
                {
                    pieces[^1] = pieces[^1] with { End = end };
                    glueNext = false;
                }
                else
                {
                    pieces.Add(new Piece(cursor, end, first ? block.Before : Boundary.Sentence));
                }
                cursor = end;
                first = false;
            }
            glueNext = block.Kind == BlockKind.Heading;
        }
        if (pieces.Count > 0)
        {
            pieces[^1] = pieces[^1] with { End = text.Length }; // trailing whitespace
        }
        return pieces;
    }

    /// <summary>Paragraphs (split at blank lines), headings and fenced code, in order.</summary>
    private static List<Block> Blocks(string text, DocumentFormat format)
    {
        var markdown = format == DocumentFormat.Markdown;
        var blocks = new List<Block>();
        int? openStart = null;
        var openEnd = 0;
        var openKind = BlockKind.Prose;
        var pending = Boundary.Section;

        void Close()
        {
            if (openStart is { } start)
            {
                blocks.Add(new Block(start, openEnd, pending, openKind));
                pending = Boundary.Paragraph;
                openStart = null;
            }
        }

        for (var lineStart = 0; lineStart < text.Length;)
        {
            var newline = text.IndexOf('\n', lineStart);
            var lineEnd = newline < 0 ? text.Length : newline;
            var line = text.AsSpan(lineStart, lineEnd - lineStart);
            var contentStart = lineStart + (line.Length - line.TrimStart().Length);
            var contentEnd = lineEnd - (line.Length - line.TrimEnd().Length);

            if (openKind == BlockKind.Code && openStart is not null)
            {
                openEnd = lineEnd;
                if (markdown && IsFence(line))
                {
                    Close();
                    openKind = BlockKind.Prose;
                }
            }
            else if (line.IsWhiteSpace())
            {
                Close();
            }
            else if (markdown && IsFence(line))
            {
                Close();
                (openStart, openEnd, openKind) = (contentStart, lineEnd, BlockKind.Code);
            }
            else if (markdown && HeadingPattern().IsMatch(line))
            {
                Close();
                pending = Boundary.Section;
                blocks.Add(new Block(contentStart, contentEnd, pending, BlockKind.Heading));
                pending = Boundary.Paragraph;
            }
            else
            {
                openStart ??= contentStart;
                openEnd = contentEnd;
                openKind = BlockKind.Prose;
            }
            lineStart = lineEnd + 1;
        }
        Close(); // an unclosed fence runs to the end of the document
        return blocks;
    }

    /// <summary>Where the sentences of [start, end) end; the last one ends at <paramref name="end"/>.</summary>
    private static IEnumerable<int> SentenceEnds(string text, int start, int end)
    {
        // Matching inside [start, end) only: the lookahead for whitespace cannot see past the block.
        for (var match = SentenceEndPattern().Match(text, start, end - start); match.Success; match = match.NextMatch())
        {
            var cut = match.Index + match.Length;
            if (cut < end && !text.AsSpan(cut, end - cut).IsWhiteSpace())
            {
                yield return cut;
            }
        }
        yield return end;
    }

    private static bool IsFence(ReadOnlySpan<char> line)
    {
        var trimmed = line.TrimStart();
        return trimmed.StartsWith("```", StringComparison.Ordinal) || trimmed.StartsWith("~~~", StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^\s{0,3}#{1,6}(\s|$)")]
    private static partial Regex HeadingPattern();

    // Terminal punctuation (and closing quotes or brackets) before whitespace; CJK full stops need no space.
    [GeneratedRegex(@"[.!?…]+[""'”’)\]]*(?=\s)|[。！？]+[”’」』）]*")]
    private static partial Regex SentenceEndPattern();
}
