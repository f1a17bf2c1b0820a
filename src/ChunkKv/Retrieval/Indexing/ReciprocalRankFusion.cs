namespace ChunkKv.Retrieval.Indexing;

/// <summary>Reciprocal-rank fusion (Cormack et al. 2009): score(d) = Σ over rankings of 1 / (k + rank of d), ranks from 1.</summary>
internal static class ReciprocalRankFusion
{
    public const int K = 60;

    public static List<(TKey Key, double Score)> Fuse<TKey>(IEnumerable<IReadOnlyList<TKey>> rankings, int limit)
        where TKey : notnull
    {
        var scores = new Dictionary<TKey, double>();
        var firstSeen = new Dictionary<TKey, int>();
        foreach (var ranking in rankings)
        {
            for (var rank = 0; rank < ranking.Count; rank++)
            {
                var key = ranking[rank];
                scores[key] = scores.GetValueOrDefault(key) + 1.0 / (K + rank + 1);
                firstSeen.TryAdd(key, firstSeen.Count);
            }
        }
        // Ties go to the key seen first, i.e. the earlier ranking's order: deterministic.
        return scores.OrderByDescending(s => s.Value).ThenBy(s => firstSeen[s.Key]).Take(limit)
            .Select(s => (s.Key, s.Value)).ToList();
    }
}
