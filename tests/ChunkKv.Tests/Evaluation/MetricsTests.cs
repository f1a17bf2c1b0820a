using ChunkKv.Evaluation.Metrics;
using ChunkKv.Inference.Tests;
using ChunkKv.Inference.Tokenization;

namespace ChunkKv.Tests.Evaluation;

/// <summary>The papers' metrics on small cases worked out by hand.</summary>
public sealed class MetricsTests
{
    private static readonly Lazy<Tokenizer> Qwen = new(() => Tokenizer.FromDirectory(Fixtures.TokenizerDirectory("qwen3")));

    [Theory]
    [InlineData("The Eiffel Tower!", "eiffel tower")]
    [InlineData("  An   apple, a day. ", "apple day")]
    [InlineData("Theatre and 'the' end", "theatre and end")] // "the" inside a word stays
    [InlineData("Café—Paris", "café—paris")] // only ASCII punctuation goes, as Python's string.punctuation
    public void Answers_are_normalized_as_squad_does(string text, string normalized) => Assert.Equal(normalized, AnswerMetrics.Normalize(text));

    [Theory]
    [InlineData("\n\nParis\nThe capital of France.", "Paris")]
    [InlineData("yes, it is", "Yes")]
    [InlineData("Nope.", "No")] // CacheBlend's rule: a first word starting with "No"
    [InlineData("Norway", "No")] // … which a country named Norway also meets, as in their scripts
    [InlineData("In 1802", "In 1802")]
    public void The_answer_is_the_first_line_with_yes_and_no_read_as_cacheblend_does(string generation, string answer) =>
        Assert.Equal(answer, AnswerMetrics.FirstLine(generation));

    [Fact]
    public void F1_counts_shared_ids_as_bags()
    {
        // predicted a a b c, gold a b b: common = min(2,1) for a + min(1,2) for b = 2; P = 2/4, R = 2/3, F1 = 2·(1/2·2/3)/(1/2+2/3) = 4/7.
        Assert.Equal(4.0 / 7, AnswerMetrics.F1([1, 1, 2, 3], [1, 2, 2]), 12);
        Assert.Equal(0, AnswerMetrics.F1([1], [2]));
        Assert.Equal(1, AnswerMetrics.F1([], []));
        Assert.Equal(0, AnswerMetrics.F1([], [2]));
    }

    [Fact]
    public void F1_is_over_the_tokenizers_ids_of_the_normalized_first_line_best_over_the_answers()
    {
        var tokenizer = Qwen.Value;
        int[] Ids(string text) => tokenizer.Encode(text, addSpecialTokens: false);
        var expected = AnswerMetrics.F1(Ids("mara voss"), Ids("mara voss of tarvik"));
        Assert.InRange(expected, 0.01, 0.99);
        // "The" and "." go; the second line is not read; the best of two gold answers counts.
        Assert.Equal(expected, AnswerMetrics.F1("Mara Voss.\nShe founded it.", ["somebody else", "Mara Voss of Tarvik"], tokenizer), 12);
        Assert.Equal(1, AnswerMetrics.F1("the Lute Guild", ["Lute Guild"], tokenizer));
        Assert.Equal(1, AnswerMetrics.ExactMatch("The lute guild!\nmore", ["Lute Guild"]));
        Assert.Equal(0, AnswerMetrics.ExactMatch("Lute", ["Lute Guild"]));
    }

    [Theory]
    [InlineData("caresses", "caress")]
    [InlineData("ponies", "poni")]
    [InlineData("cats", "cat")]
    [InlineData("feed", "feed")]
    [InlineData("agreed", "agre")]
    [InlineData("plastered", "plaster")]
    [InlineData("motoring", "motor")]
    [InlineData("sing", "sing")]
    [InlineData("hopping", "hop")]
    [InlineData("falling", "fall")]
    [InlineData("filing", "file")]
    [InlineData("happy", "happi")]
    [InlineData("relational", "relat")]
    [InlineData("generalization", "gener")]
    [InlineData("connections", "connect")]
    [InlineData("connecting", "connect")]
    [InlineData("adjustable", "adjust")]
    [InlineData("controlling", "control")]
    [InlineData("abilities", "abil")]
    [InlineData("absence", "absenc")]
    public void Porter_stems_the_words_of_its_paper(string word, string stem) => Assert.Equal(stem, PorterStemmer.Stem(word));

    [Fact]
    public void RougeL_is_the_f_measure_of_the_longest_common_subsequence_of_stemmed_words()
    {
        // prediction: [the, cat, sat, on, the, mat] ; reference: [the, cat, was, sitting→sit, on, a, mat]
        // "sat" and "sitting" differ even stemmed; LCS = the cat on mat = 4; P = 4/6, R = 4/7, F = 2PR/(P+R) = 8/13.
        Assert.Equal(8.0 / 13, RougeL.FMeasure("The cat sat on the mat.", "the cat was sitting on a mat"), 12);
        // Stemming makes "connections" and "connected" one word; punctuation splits words.
        Assert.Equal(1, RougeL.FMeasure("Connections, tested!", "connected tests"));
        Assert.Equal(0, RougeL.FMeasure("", "anything"));
        Assert.Equal(1, RougeL.FMeasure("same words", ["other words entirely", "Same words"]));
    }
}
