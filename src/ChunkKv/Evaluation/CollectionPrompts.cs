using System.Text.RegularExpressions;
using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Evaluation;

/// <summary>
/// Prompts for calibrating a method on a collection, made of the collection's own chunks: runs of
/// consecutive chunks of one document (where a chunk leans on the one before it, as retrieval's
/// neighbours bring them), with the caller's questions in turn, or, without any, a question about a
/// name in one of the chunks. The calibrator adds other chunk orders.
/// </summary>
public static partial class CollectionPrompts
{
    /// <summary>Documents looked at, at most: the sample is spread over the first this many.</summary>
    public const int MaxDocuments = 1000;

    /// <exception cref="InvalidOperationException">The collection has no ready document.</exception>
    public static async Task<IReadOnlyList<EvalRecord>> SampleAsync(IChunkIndex index, string collection, string? prefix, int count,
        int chunksPerPrompt, IReadOnlyList<string>? questions, int seed = 1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunksPerPrompt, 1);
        var documents = (await index.ListDocumentsAsync(collection, after: null, MaxDocuments, cancellationToken))
            .Where(d => d.Status == DocumentStatus.Ready && d.ChunkCount > 0).ToList();
        if (documents.Count == 0)
        {
            throw new InvalidOperationException($"collection '{collection}' has no ready document to calibrate on");
        }
        var random = new Random(seed);
        var records = new List<EvalRecord>();
        for (var i = 0; i < count; i++)
        {
            var document = documents[random.Next(documents.Count)];
            var length = Math.Min(chunksPerPrompt, document.ChunkCount);
            var start = random.Next(document.ChunkCount - length + 1);
            var chunks = (await index.GetChunksAsync(collection, document.ExternalId, Enumerable.Range(start, length).ToList(), cancellationToken))
                .Select(hit => hit.Content).ToList();
            if (chunks.Count == 0)
            {
                continue; // deleted since it was listed
            }
            var question = questions is { Count: > 0 } ? questions[i % questions.Count] : QuestionAbout(chunks[random.Next(chunks.Count)], random);
            records.Add(new EvalRecord($"{document.ExternalId}#{start}", "calibration", prefix, chunks, question, ""));
        }
        return records;
    }

    /// <summary>"What do the notes say about Velmora?": a capitalised word inside a sentence (a name, most likely), else the chunk's opening words.</summary>
    internal static string QuestionAbout(string chunk, Random random)
    {
        var names = InnerName().Matches(chunk).Select(m => m.Value).Distinct(StringComparer.Ordinal).ToList();
        var subject = names.Count > 0 ? names[random.Next(names.Count)]
            : '"' + string.Join(' ', chunk.Split((char[]?)null, 7, StringSplitOptions.RemoveEmptyEntries).Take(6)) + '"';
        return $"What do the notes say about {subject}?";
    }

    [GeneratedRegex(@"(?<=[\p{Ll},;:] )\p{Lu}[\p{L}\p{Nd}-]+")]
    private static partial Regex InnerName();
}
