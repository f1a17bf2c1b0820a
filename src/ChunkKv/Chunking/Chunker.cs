using System.Text.RegularExpressions;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Chunking;

/// <summary>
/// Token-aware chunking. The document is cut into sentence pieces (<see cref="TextSegmenter"/>),
/// pieces longer than a chunk into words and then character runs, and the pieces are packed
/// greedily up to <see cref="ChunkingOptions.TargetTokens"/>. When a chunk is full it is cut at
/// the strongest boundary (section ▸ paragraph ▸ sentence ▸ word) that still leaves it at least
/// half full, so chunks end at paragraphs where they can without coming out tiny.
/// </summary>
public sealed partial class Chunker
{
    private readonly Tokenizer _tokenizer;
    private readonly ChunkingOptions _options;

    public Chunker(Tokenizer tokenizer, ChunkingOptions? options = null)
    {
        _tokenizer = tokenizer;
        _options = options ?? new ChunkingOptions();
        _options.Validate();
    }

    public ChunkingOptions Options => _options;

    public Tokenizer Tokenizer => _tokenizer;

    public IReadOnlyList<TextChunk> Split(string text, DocumentFormat format = DocumentFormat.PlainText)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pieces = new List<Piece>();
        var tokens = new List<int>();
        foreach (var piece in TextSegmenter.Segment(text, format))
        {
            AddFitting(text, piece, pieces, tokens);
        }
        return Pack(text, pieces, tokens);
    }

    /// <summary>
    /// Tokens in the piece: in place, or as a chunk of its own would hold it (trimmed of surrounding
    /// whitespace), whichever is more. Trimming can add tokens (qwen3 encodes " word0123" in fewer
    /// tokens than "word0123"), so the in-place count alone would let a one-piece chunk come out over the target.
    /// </summary>
    private int Count(string text, int start, int end)
    {
        var inPlace = _tokenizer.Encode(text[start..end], addSpecialTokens: false).Length;
        var (from, to) = Trimmed(text, start, end);
        return from == start && to == end ? inPlace : Math.Max(inPlace, _tokenizer.Encode(text[from..to], addSpecialTokens: false).Length);
    }

    private static (int From, int To) Trimmed(string text, int from, int to)
    {
        while (from < to && char.IsWhiteSpace(text[from]))
        {
            from++;
        }
        while (to > from && char.IsWhiteSpace(text[to - 1]))
        {
            to--;
        }
        return (from, to);
    }

    /// <summary>Adds the piece, or its words (or character runs) when it alone is longer than a chunk.</summary>
    private void AddFitting(string text, Piece piece, List<Piece> pieces, List<int> tokens)
    {
        var count = Count(text, piece.Start, piece.End);
        if (count <= _options.TargetTokens)
        {
            pieces.Add(piece);
            tokens.Add(count);
            return;
        }
        var words = WordPattern().Matches(text, piece.Start).TakeWhile(m => m.Index < piece.End).ToList();
        if (words.Count > 1)
        {
            for (var i = 0; i < words.Count; i++)
            {
                var end = i + 1 < words.Count ? words[i + 1].Index : piece.End;
                var start = i == 0 ? piece.Start : words[i].Index;
                AddFitting(text, new Piece(start, end, i == 0 ? piece.Before : Boundary.Word), pieces, tokens);
            }
            return;
        }
        // One word longer than a chunk (a hash, a URL, text without spaces): runs of characters.
        // Byte-level BPE gives at most 3 tokens per UTF-16 unit, so a third of the target usually
        // fits; where it does not (metaspace's prepended '▁', byte fallback), a run is halved.
        var run = Math.Max(1, _options.TargetTokens / 3);
        for (var start = piece.Start; start < piece.End;)
        {
            var end = SafeCut(text, start, Math.Min(piece.End, start + run), piece.End);
            AddCharacters(text, new Piece(start, end, start == piece.Start ? piece.Before : Boundary.Word), pieces, tokens);
            start = end;
        }
    }

    /// <summary>Adds a run of characters, halved until each part fits the target or is one code point (which can be cut no further).</summary>
    private void AddCharacters(string text, Piece part, List<Piece> pieces, List<int> tokens)
    {
        var count = Count(text, part.Start, part.End);
        var middle = SafeCut(text, part.Start, part.Start + (part.End - part.Start) / 2, part.End);
        if (count <= _options.TargetTokens || middle <= part.Start)
        {
            pieces.Add(part);
            tokens.Add(count);
            return;
        }
        AddCharacters(text, part with { End = middle }, pieces, tokens);
        AddCharacters(text, new Piece(middle, part.End, Boundary.Word), pieces, tokens);
    }

    /// <summary><paramref name="at"/>, moved back off the middle of a surrogate pair (never to <paramref name="start"/> when one forward is possible).</summary>
    private static int SafeCut(string text, int start, int at, int end)
    {
        if (at >= end)
        {
            return end;
        }
        if (at > start && char.IsLowSurrogate(text[at]) && char.IsHighSurrogate(text[at - 1]))
        {
            at = at - 1 > start ? at - 1 : Math.Min(end, at + 1);
        }
        return at;
    }

    private List<TextChunk> Pack(string text, List<Piece> pieces, List<int> tokens)
    {
        var target = _options.TargetTokens;
        var chunks = new List<TextChunk>();
        for (var start = 0; start < pieces.Count;)
        {
            var end = start;
            var sum = 0;
            while (end < pieces.Count && sum + tokens[end] <= target)
            {
                sum += tokens[end++];
            }
            if (end == start)
            {
                // A piece that alone is over the target is one code point that cannot be cut: it is a chunk of its own.
                sum = tokens[end++];
            }
            var cut = end < pieces.Count ? BestCut(pieces, tokens, start, end, sum) : end;
            cut = Emit(text, pieces, start, cut, chunks);
            if (cut >= pieces.Count)
            {
                break;
            }
            start = OverlapStart(tokens, start, cut);
            // The overlap may begin with whitespace the last chunk was trimmed of: then the next chunk
            // would start where that one did. It gives up pieces until it starts further on.
            while (start < cut && chunks.Count > 0 && Trimmed(text, pieces[start].Start, pieces[cut - 1].End).From <= chunks[^1].CharStart)
            {
                start++;
            }
        }
        return chunks;
    }

    /// <summary>The strongest boundary in (start, end] that leaves the chunk at least half full.</summary>
    private int BestCut(List<Piece> pieces, List<int> tokens, int start, int end, int sum)
    {
        var cut = end;
        var best = pieces[end].Before;
        for (var k = end - 1; k > start; k--)
        {
            sum -= tokens[k];
            if (sum < _options.TargetTokens / 2)
            {
                break;
            }
            if (pieces[k].Before > best)
            {
                (best, cut) = (pieces[k].Before, k);
            }
        }
        return cut;
    }

    /// <summary>
    /// Adds pieces [start, cut) as one chunk, trimmed of surrounding whitespace. The pieces' token
    /// counts add up to the whole text's count except where BPE merges across a piece boundary, so
    /// the chunk is encoded whole and shortened by a piece if that ever overshoots. Returns the cut used.
    /// </summary>
    private int Emit(string text, List<Piece> pieces, int start, int cut, List<TextChunk> chunks)
    {
        while (true)
        {
            var (from, to) = Trimmed(text, pieces[start].Start, pieces[cut - 1].End);
            if (from == to)
            {
                return cut; // whitespace only
            }
            var chunkText = text[from..to];
            var ids = _tokenizer.Encode(chunkText, addSpecialTokens: false);
            if (ids.Length <= _options.TargetTokens || cut - start == 1)
            {
                chunks.Add(new TextChunk(chunks.Count, from, to, chunkText, ids));
                return cut;
            }
            cut--;
        }
    }

    /// <summary>Where the next chunk starts: the last pieces of this one that fit in the overlap, always moving forward.</summary>
    private int OverlapStart(List<int> tokens, int start, int cut)
    {
        var next = cut;
        var overlap = 0;
        while (next - 1 > start && overlap + tokens[next - 1] <= _options.OverlapTokens)
        {
            overlap += tokens[--next];
        }
        return next;
    }

    [GeneratedRegex(@"\s*\S+")]
    private static partial Regex WordPattern();
}
