namespace ChunkKv.Retrieval.Indexing;

/// <summary>Document frequencies and lengths over a collection's chunks, for Okapi BM25 text ranking in the embedded index.</summary>
internal sealed class TermStatistics
{
    private const double K1 = 1.2;
    private const double B = 0.75;

    private readonly Dictionary<string, int> _documentFrequency = new(StringComparer.Ordinal);
    private long _totalLength;
    private int _count;

    public void Add(ChunkTerms terms) => Update(terms, +1);

    public void Remove(ChunkTerms terms) => Update(terms, -1);

    /// <summary>BM25 of a chunk's terms for the query terms; 0 when they share none.</summary>
    public double Score(IReadOnlyCollection<string> query, ChunkTerms terms)
    {
        if (_count == 0 || terms.Length == 0)
        {
            return 0;
        }
        var averageLength = (double)_totalLength / _count;
        var score = 0.0;
        foreach (var term in query)
        {
            var frequency = terms.Counts.GetValueOrDefault(term);
            if (frequency == 0)
            {
                continue;
            }
            var df = _documentFrequency.GetValueOrDefault(term);
            var idf = Math.Log(1 + (_count - df + 0.5) / (df + 0.5));
            score += idf * frequency * (K1 + 1) / (frequency + K1 * (1 - B + B * terms.Length / averageLength));
        }
        return score;
    }

    private void Update(ChunkTerms terms, int sign)
    {
        _count += sign;
        _totalLength += sign * terms.Length;
        foreach (var term in terms.Counts.Keys)
        {
            var df = _documentFrequency.GetValueOrDefault(term) + sign;
            if (df == 0)
            {
                _documentFrequency.Remove(term);
            }
            else
            {
                _documentFrequency[term] = df;
            }
        }
    }
}

/// <summary>A chunk's words with their counts, for <see cref="TermStatistics"/>.</summary>
internal sealed class ChunkTerms
{
    public ChunkTerms(string text)
    {
        var words = TextTerms.Words(text);
        Length = words.Count;
        foreach (var word in words)
        {
            Counts[word] = Counts.GetValueOrDefault(word) + 1;
        }
    }

    public Dictionary<string, int> Counts { get; } = new(StringComparer.Ordinal);

    public int Length { get; }
}
