using ChunkKv.Collections;
using ChunkKv.Pipeline;
using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Evaluation;

/// <summary>
/// How well a collection's retrieval serves multi-hop questions, through the path a query takes
/// (<see cref="CollectionContext.RetrieveAsync"/>: embed, search, neighbours), ranked by the order the
/// search found the chunks in. <c>AnswerAt</c>: the answer's text is in one of the first k chunks
/// (questions whose answer is yes or no are left out); <c>SupportAt1</c>: the first chunk is one of the
/// question's supporting paragraphs; <c>Mrr</c>: the mean of 1 / the rank of the first chunk holding the answer.
/// </summary>
public sealed record RetrievalScores(int Questions, int AnswerQuestions, double AnswerAt1, double AnswerAt3, double AnswerAt5, double SupportAt1, double Mrr)
{
    /// <summary>The chunks are documents titled by their paragraph (<see cref="MultiHopSet.Corpus"/>); <paramref name="topK"/> chunks a query.</summary>
    public static async Task<RetrievalScores> MeasureAsync(CollectionContext collection, IReadOnlyList<MultiHopQuestion> questions, int topK = 5,
        Neighbours? neighbours = null, SearchMode mode = SearchMode.Hybrid, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(collection);
        ArgumentNullException.ThrowIfNull(questions);
        int answerable = 0, at1 = 0, at3 = 0, at5 = 0, support1 = 0;
        double reciprocal = 0;
        foreach (var question in questions)
        {
            var retrieved = await collection.RetrieveAsync(new QueryRequest(question.Question, TopK: topK, Mode: mode, Neighbours: neighbours), cancellationToken);
            // The search's hits in its order, then the neighbours they brought: the prompt's document order is not a ranking.
            var ranked = retrieved.Ranked.Where(retrieved.WasFound).Concat(retrieved.Ranked.Where(c => !retrieved.WasFound(c))).ToList();
            if (ranked.Count > 0 && question.Supporting.Contains(ranked[0].DocumentId, StringComparer.Ordinal))
            {
                support1++;
            }
            if (question.IsYesNo)
            {
                continue;
            }
            answerable++;
            var first = ranked.FindIndex(c => c.Content.Contains(question.Answer, StringComparison.OrdinalIgnoreCase));
            at1 += first == 0 ? 1 : 0;
            at3 += first is >= 0 and < 3 ? 1 : 0;
            at5 += first is >= 0 and < 5 ? 1 : 0;
            reciprocal += first >= 0 ? 1.0 / (first + 1) : 0;
        }
        double Share(int count, int of) => of == 0 ? 0 : (double)count / of;
        return new RetrievalScores(questions.Count, answerable, Share(at1, answerable), Share(at3, answerable), Share(at5, answerable),
            Share(support1, questions.Count), answerable == 0 ? 0 : reciprocal / answerable);
    }
}
