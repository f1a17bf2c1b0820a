namespace ChunkKv.Chunking;

/// <summary>How documents are cut into chunks.</summary>
public sealed record ChunkingOptions
{
    /// <summary>Upper bound of a chunk's length in the model's tokens; chunks come out as close below it as boundaries allow.</summary>
    public int TargetTokens { get; init; } = 256;

    /// <summary>Tokens of the previous chunk's end repeated at the start of the next (whole sentences or words); 0 for none.</summary>
    public int OverlapTokens { get; init; }

    public void Validate()
    {
        if (TargetTokens < 8)
        {
            throw new ArgumentOutOfRangeException(nameof(TargetTokens), TargetTokens, "a chunk needs at least 8 tokens");
        }
        if (OverlapTokens < 0 || OverlapTokens > TargetTokens / 2)
        {
            throw new ArgumentOutOfRangeException(nameof(OverlapTokens), OverlapTokens,
                $"overlap must be between 0 and half the target ({TargetTokens / 2})");
        }
    }
}

/// <summary>How a document's text is to be read.</summary>
public enum DocumentFormat
{
    PlainText,

    /// <summary>ATX headings (<c># Title</c>) start sections and stay with their first paragraph; fenced code blocks are kept whole where they fit.</summary>
    Markdown,
}

/// <summary>One chunk of a document: its place in the document and its text as the model reads it.</summary>
/// <param name="CharStart">First UTF-16 index of the chunk in the document (inclusive).</param>
/// <param name="CharEnd">End UTF-16 index (exclusive); <c>Text</c> is exactly that span.</param>
/// <param name="TokenIds">The chunk's text encoded on its own, without special tokens: what its KV cache is computed from.</param>
public sealed record TextChunk(int Ordinal, int CharStart, int CharEnd, string Text, int[] TokenIds);
