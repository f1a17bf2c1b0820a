namespace ChunkKv.Chunking;

/// <summary>How strong the boundary before a piece of text is; the chunker prefers to cut at strong ones.</summary>
internal enum Boundary
{
    Word = 0,
    Sentence = 1,
    Paragraph = 2,
    Section = 3,
}

/// <summary>A span of the document, [Start, End), with the boundary before it. Whitespace before a piece belongs to it.</summary>
internal readonly record struct Piece(int Start, int End, Boundary Before)
{
    public int Length => End - Start;
}
