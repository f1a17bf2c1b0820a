using ChunkKv.Fusion;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tests;

namespace ChunkKv.Tests.Fusion;

/// <summary>
/// The fusion methods on random models, against their definitions: <c>full</c> is a plain prefill
/// bit for bit; every method that ends up computing every row is <c>full</c>; <c>reuse</c> of one
/// chunk is exact; each method recomputes exactly the rows its definition names (CacheBlend's
/// checked against deviations worked out here from a plain prefill and the copy-based re-positioning).
/// </summary>
public sealed class FuserTests : IClassFixture<FuserTests.Models>
{
    public sealed class Models : IDisposable
    {
        public Models()
        {
            foreach (var (name, shape) in new[]
                     {
                         // Llama 3 RoPE scaling and Qwen3's q/k norms: both change how keys re-position.
                         ("llama3", ModelShape.Tiny.Single(s => s.Name == "tiny-llama3") with { Layers = 4 }),
                         ("qwen3", ModelShape.Tiny.Single(s => s.Name == "tiny-qwen3") with { Layers = 4 }),
                     })
            {
                var directory = Fixtures.TempDirectory($"fusion-{name}");
                RandomModel.Write(directory, shape, seed: 11);
                Loaded[name] = LanguageModel.Load(directory);
            }
        }

        public Dictionary<string, LanguageModel> Loaded { get; } = [];

        public void Dispose()
        {
            foreach (var model in Loaded.Values)
            {
                model.Dispose();
            }
        }
    }

    private readonly Models models;

    public FuserTests(Models models) => this.models = models;

    public static TheoryData<string> Architectures => new(["llama3", "qwen3"]);

    private static FusionPrompt Prompt(int chunks = 3, int seed = 1, int prefix = 4)
    {
        var random = new Random(seed);
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => random.Next(1, 384)).ToArray();
        return new FusionPrompt(Tokens(prefix), Enumerable.Range(0, chunks).Select(i => Tokens(9 + 3 * i)).ToList(), Tokens(5));
    }

    private (Fuser Fuser, PromptCaches Caches, FusionPrompt Prompt) Setup(string architecture, int chunks = 3, int prefix = 4)
    {
        var transformer = models.Loaded[architecture].Transformer;
        var prompt = Prompt(chunks, prefix: prefix);
        return (new Fuser(transformer), PromptCacheComputation.ForPrompt(transformer, prompt), prompt);
    }

    /// <summary>The CPU backend the fuser runs on, for the plain prefills the tests compare with.</summary>
    private static Transformer Engine(Fuser fuser) => (Transformer)fuser.Backend;

    private static float MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => MathF.Abs(x - y)).Max();

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Full_through_fusion_is_a_plain_prefill_bit_for_bit(string architecture)
    {
        var (fuser, _, prompt) = Setup(architecture);
        var plain = Engine(fuser).Prefill(prompt.AllTokens(), Engine(fuser).NewSequence());

        var fused = fuser.Fuse(prompt, caches: null, FusionMethod.Full);

        Assert.Equal(plain, fused.Logits);
        Assert.Equal(Enumerable.Range(prompt.Prefix.Length, prompt.TotalChunkTokens), fused.Recomputed);
        Assert.Equal(prompt.Length, fused.Sequence.Count);
    }

    [Theory]
    [InlineData("llama3", "prefix")]
    [InlineData("llama3", "epic:100")]
    [InlineData("llama3", "kvlink:100")]
    [InlineData("llama3", "cacheblend:1")]
    [InlineData("llama3", "cacheblend:1:0")]
    [InlineData("llama3", "cacheblend:1:2:v")]
    [InlineData("llama3", "cachecraft:1")]
    [InlineData("llama3", "query:1")]
    [InlineData("llama3", "query:1:4")]
    [InlineData("qwen3", "epic:100")]
    [InlineData("qwen3", "cacheblend:1")]
    [InlineData("qwen3", "query:1")]
    public void A_method_that_computes_every_row_is_full(string architecture, string name)
    {
        var (fuser, caches, prompt) = Setup(architecture);
        var full = fuser.Fuse(prompt, caches, FusionMethod.Full);

        var fused = fuser.Fuse(prompt, caches, FusionMethod.Parse(name));

        // C₁'s and the prefix's cached rows are exact, but computed in other batches than full's:
        // agreement to float rounding, not bits.
        Assert.True(MaxDifference(full.Logits, fused.Logits) < 1e-4f, $"{name}: max |Δlogit| {MaxDifference(full.Logits, fused.Logits)}");
        Assert.Equal(full.Sequence.Count, fused.Sequence.Count);
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Reuse_of_a_single_chunk_is_exact_and_of_several_is_not(string architecture)
    {
        var (fuser, caches, prompt) = Setup(architecture, chunks: 1);
        Assert.True(MaxDifference(fuser.Fuse(prompt, caches, FusionMethod.Full).Logits, fuser.Fuse(prompt, caches, FusionMethod.Reuse).Logits) < 1e-4f);

        var (_, severalCaches, several) = Setup(architecture, chunks: 3);
        var gap = MaxDifference(fuser.Fuse(several, severalCaches, FusionMethod.Full).Logits, fuser.Fuse(several, severalCaches, FusionMethod.Reuse).Logits);
        Assert.True(gap > 1e-3f, $"reuse of three chunks differs from full by only {gap}: the test's prompt does not exercise fusion");
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Composite_positions_keep_each_chunk_where_it_was_computed(string architecture)
    {
        var (fuser, caches, prompt) = Setup(architecture);
        var composite = fuser.Fuse(prompt, caches, FusionMethod.Parse("reuse:composite"));

        var expected = new List<int>();
        expected.AddRange(Enumerable.Range(0, prompt.Prefix.Length));
        foreach (var chunk in prompt.Chunks)
        {
            expected.AddRange(Enumerable.Range(prompt.Prefix.Length, chunk.Length));
        }
        var questionStart = prompt.Prefix.Length + prompt.Chunks.Max(c => c.Length);
        expected.AddRange(Enumerable.Range(questionStart, prompt.Question.Length));
        Assert.Equal(expected, composite.Sequence.Positions.AsSpan(0, composite.Sequence.Count).ToArray());
        Assert.True(MaxDifference(composite.Logits, fuser.Fuse(prompt, caches, FusionMethod.Reuse).Logits) > 1e-4f);

        // With one chunk, composite and reordered positions are the same positions.
        var (_, oneCache, one) = Setup(architecture, chunks: 1);
        Assert.Equal(fuser.Fuse(one, oneCache, FusionMethod.Reuse).Logits, fuser.Fuse(one, oneCache, FusionMethod.Parse("reuse:composite")).Logits);
    }

    [Fact]
    public void Each_method_recomputes_the_rows_its_definition_names()
    {
        var (fuser, caches, prompt) = Setup("llama3", chunks: 4);
        int[] Recomputed(string name) => fuser.Fuse(prompt, caches, FusionMethod.Parse(name)).Recomputed;
        var starts = prompt.ChunkStarts;
        var ends = prompt.ChunkStarts.Zip(prompt.Chunks, (s, c) => s + c.Length).ToArray();

        Assert.Empty(Recomputed("reuse"));
        Assert.Equal(Enumerable.Range(prompt.Prefix.Length, prompt.TotalChunkTokens), Recomputed("prefix"));
        Assert.Equal(starts.Skip(1).SelectMany(s => new[] { s, s + 1 }), Recomputed("epic:2"));
        Assert.Equal(ends.Skip(1).Select(e => e - 1), Recomputed("kvlink"));
        Assert.Equal(ends.Skip(1).SelectMany(e => new[] { e - 2, e - 1 }), Recomputed("kvlink:2"));

        var budget = (int)Math.Floor(0.2 * prompt.TotalChunkTokens);
        var query = Recomputed("query:0.2");
        Assert.Equal(budget, query.Length);
        Assert.All(query, slot => Assert.InRange(slot, prompt.Prefix.Length, prompt.ContextLength - 1));
        // Anchored: the openings, then the rest of the same budget by the same attention ranking, so
        // every other row it keeps is one the plain method keeps too.
        var anchors = starts.Skip(1).SelectMany(s => new[] { s, s + 1 }).ToArray();
        var anchored = Recomputed("query:0.2:2");
        Assert.Equal(budget, anchored.Length);
        Assert.Subset(anchored.ToHashSet(), anchors.ToHashSet());
        Assert.Subset(query.ToHashSet(), anchored.Except(anchors).ToHashSet());
        var craft = Recomputed("cachecraft:0.2");
        Assert.Equal(budget, craft.Length);
        // The first chunk's cache is exact, so its deviation is rounding: Cache-Craft spends (almost) nothing there.
        Assert.True(craft.Count(s => s < ends[0]) <= 1, $"cachecraft spent {craft.Count(s => s < ends[0])} rows on the exact first chunk");
        Assert.Single(Recomputed("cacheblend:0")); // max(1, ⌊0·N⌋)
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(1, true)]
    public void CacheBlend_keeps_the_rows_whose_check_layer_keys_deviate_most(int checkLayer, bool values)
    {
        var (fuser, caches, prompt) = Setup("llama3", chunks: 4);
        var transformer = Engine(fuser);
        // Fresh K/V at the check layer: layers below it recompute every chunk row, which is what a
        // plain prefill of the whole prompt computes there.
        var plain = transformer.NewSequence();
        transformer.Prefill(prompt.AllTokens(), plain);
        var width = plain.RowWidth;
        var scores = new List<(int Slot, double Score)>();
        for (var i = 0; i < prompt.Chunks.Count; i++)
        {
            var start = prompt.ChunkStarts[i];
            var moved = ((KvCache)caches.Chunks[i]).Reposition(transformer.Rope, Enumerable.Range(start, prompt.Chunks[i].Length).ToArray());
            var cached = values ? moved.Values[checkLayer] : moved.Keys[checkLayer];
            var fresh = values ? plain.Values[checkLayer] : plain.Keys[checkLayer];
            for (var t = 0; t < prompt.Chunks[i].Length; t++)
            {
                double sum = 0;
                for (var j = 0; j < width; j++)
                {
                    var d = (double)fresh[(start + t) * width + j] - cached[t * width + j];
                    sum += d * d;
                }
                scores.Add((start + t, sum));
            }
        }
        var budget = (int)Math.Floor(0.25 * prompt.TotalChunkTokens);
        var expected = scores.OrderByDescending(s => s.Score).ThenBy(s => s.Slot).Take(budget).Select(s => s.Slot).Order().ToArray();

        var name = $"cacheblend:0.25:{checkLayer}" + (values ? ":v" : "");
        Assert.Equal(expected, fuser.Fuse(prompt, caches, FusionMethod.Parse(name)).Recomputed);
    }

    [Fact]
    public void Recomputing_more_rows_brings_cacheblend_closer_to_full()
    {
        var (fuser, caches, prompt) = Setup("qwen3", chunks: 4);
        var full = fuser.Fuse(prompt, caches, FusionMethod.Full).Logits;
        var gaps = new[] { "reuse", "cacheblend:0.3", "cacheblend:0.7", "cacheblend:1" }
            .Select(name => MaxDifference(full, fuser.Fuse(prompt, caches, FusionMethod.Parse(name)).Logits)).ToArray();
        Assert.True(gaps[0] > gaps[1] && gaps[1] > gaps[2] && gaps[2] > gaps[3], $"gaps to full: {string.Join(", ", gaps)}");
    }

    [Fact]
    public void A_kept_sequence_is_refilled_for_the_next_prompt()
    {
        var (fuser, caches, prompt) = Setup("llama3");
        var sequence = Engine(fuser).NewSequence(8);
        var first = fuser.Fuse(prompt, caches, FusionMethod.Default, sequence);
        var again = fuser.Fuse(prompt, caches, FusionMethod.Default, sequence);
        Assert.Same(sequence, again.Sequence);
        Assert.Equal(first.Logits, again.Logits);
        Assert.Equal(first.Logits, fuser.Fuse(prompt, caches, FusionMethod.Default).Logits);
    }

    [Fact]
    public void Caches_that_do_not_fit_the_prompt_are_refused()
    {
        var (fuser, caches, prompt) = Setup("llama3");
        Assert.Throws<ArgumentException>(() => fuser.Fuse(prompt, caches: null, FusionMethod.Reuse));
        var shorter = new PromptCaches(caches.Prefix, caches.Chunks.Take(2).ToList());
        Assert.Throws<ArgumentException>(() => fuser.Fuse(prompt, shorter, FusionMethod.Reuse));
        var swapped = new PromptCaches(caches.Prefix, [caches.Chunks[1], caches.Chunks[0], caches.Chunks[2]]);
        Assert.Throws<ArgumentException>(() => fuser.Fuse(prompt, swapped, FusionMethod.Reuse));
        Assert.Throws<ArgumentException>(() => fuser.Fuse(prompt, caches, FusionMethod.Parse("cacheblend:0.1:4")));
    }

    [Fact]
    public void Decoding_continues_from_the_fused_sequence_at_the_next_position()
    {
        var (fuser, caches, prompt) = Setup("llama3");
        var fused = fuser.Fuse(prompt, caches, FusionMethod.Full);
        var plain = Engine(fuser).NewSequence();
        Engine(fuser).Prefill(prompt.AllTokens(), plain);
        Assert.Equal(Engine(fuser).Prefill([7], plain), Engine(fuser).Prefill([7], fused.Sequence));
    }

    [Fact]
    public void CacheCraft_reuses_a_variant_when_the_same_chunks_precede_it_again()
    {
        var (fuser, caches, prompt) = Setup("llama3", chunks: 3);
        var variants = new ChunkVariantCache();
        var crafting = new Fuser(Engine(fuser), variants);
        var method = FusionMethod.Parse("cachecraft:0.3");

        var first = crafting.Fuse(prompt, caches, method);
        Assert.NotEmpty(first.Recomputed);
        Assert.Equal(2, variants.Count); // chunks 2 and 3; the first is exact

        var again = crafting.Fuse(prompt, caches, method);
        Assert.Empty(again.Recomputed); // every later chunk came as it was fused before
        Assert.True(MaxDifference(first.Logits, again.Logits) < 1e-4f, $"max |Δlogit| {MaxDifference(first.Logits, again.Logits)}");

        // Other chunks before the third: its variant does not apply, the second's still does.
        var reordered = new FusionPrompt(prompt.Prefix, [prompt.Chunks[0], prompt.Chunks[1], Prompt(chunks: 3, seed: 9).Chunks[2]], prompt.Question);
        var partly = crafting.Fuse(reordered, PromptCacheComputation.ForPrompt(Engine(fuser), reordered), method);
        Assert.NotEmpty(partly.Recomputed);
        Assert.DoesNotContain(partly.Recomputed, s => s >= reordered.ChunkStarts[1] && s < reordered.ChunkStarts[2]);
    }

    [Fact]
    public void The_variant_cache_evicts_the_least_worth_first_when_over_its_budget()
    {
        var (fuser, caches, _) = Setup("llama3", chunks: 3);
        var one = (KvCache)caches.Chunks[0];
        var bytes = 2L * one.Layers * one.Tokens * one.RowWidth * sizeof(float);
        var cache = new ChunkVariantCache(capacityBytes: 2 * bytes);
        cache.Add("a", one, savedRows: 10);
        cache.Add("b", one, savedRows: 1);
        Assert.NotNull(cache.Find("b")); // used twice now: worth 2
        cache.Add("c", one, savedRows: 5); // over budget: the least worth goes

        Assert.Equal(2, cache.Count);
        Assert.NotNull(cache.Find("a"));
        Assert.Null(cache.Find("b"));
        Assert.NotNull(cache.Find("c"));
    }

    [Theory]
    [InlineData("full")]
    [InlineData("prefix")]
    [InlineData("reuse")]
    [InlineData("epic:4")]
    [InlineData("kvlink")]
    [InlineData("cacheblend:0.15")]
    [InlineData("cachecraft:0.15")]
    [InlineData("query:0.15")]
    public void A_prompt_with_no_chunks_is_the_prefix_and_the_question(string name)
    {
        // What a search of an empty collection gives: nothing to fuse, and still an answer.
        var (fuser, _, withChunks) = Setup("llama3");
        var prompt = new FusionPrompt(withChunks.Prefix, [], withChunks.Question);
        var caches = PromptCacheComputation.ForPrompt(Engine(fuser), prompt);
        var full = fuser.Fuse(prompt, caches, FusionMethod.Full);

        var fused = new Fuser(Engine(fuser), new ChunkVariantCache()).Fuse(prompt, caches, FusionMethod.Parse(name));

        Assert.Empty(fused.Recomputed);
        Assert.True(MaxDifference(full.Logits, fused.Logits) < 1e-4f);
    }
    [Theory]
    [MemberData(nameof(Architectures))]
    public void The_work_counted_is_each_schedule_in_closed_form(string architecture)
    {
        var (fuser, caches, prompt) = Setup(architecture);
        var layers = Engine(fuser).Config.Layers;
        long n = prompt.Length, context = prompt.ContextLength, q = prompt.Question.Length;
        // A row at slot s (= its position here) attends to the s + 1 slots at or before it.
        static long Keys(IEnumerable<int> slots) => slots.Sum(s => s + 1L);
        var questionSlots = Enumerable.Range(prompt.ContextLength, prompt.Question.Length).ToArray();

        // Every layer but the last runs every row; the last computes every row's K/V and runs the last row alone.
        var full = fuser.Fuse(prompt, caches, FusionMethod.Full).Work;
        Assert.Equal((layers - 1) * n + 1, full.RowLayers);
        Assert.Equal((layers - 1) * n * (n + 1) / 2 + n, full.AttendedKeys);
        Assert.Equal(n - 1, full.KvOnlyRowLayers);
        var prefill = FusionWork.OfPrefill(layers, prompt.Length);
        Assert.Equal((prefill.RowLayers, prefill.AttendedKeys, prefill.KvOnlyRowLayers), (full.RowLayers, full.AttendedKeys, full.KvOnlyRowLayers));

        var reuse = fuser.Fuse(prompt, caches, FusionMethod.Reuse).Work;
        Assert.Equal((layers - 1) * q + 1, reuse.RowLayers);
        Assert.Equal((layers - 1) * (q * context + q * (q + 1) / 2) + n, reuse.AttendedKeys);
        Assert.Equal(q - 1, reuse.KvOnlyRowLayers);

        // cacheblend, check layer 1: layer 0 runs every chunk row and the question, layer 1 computes
        // their K/V alone, then the chosen rows and the question run layers 1 … L−2, and the last row layer L−1.
        var blendResult = fuser.Fuse(prompt, caches, FusionMethod.Parse("cacheblend:0.5"));
        var blend = blendResult.Work;
        var chunkAndQuestion = Enumerable.Range(prompt.Prefix.Length, prompt.TotalChunkTokens).Concat(questionSlots).ToArray();
        var kept = blendResult.Recomputed.Concat(questionSlots).ToArray();
        Assert.Equal(chunkAndQuestion.Length + (layers - 2) * kept.Length + 1, blend.RowLayers);
        Assert.Equal(Keys(chunkAndQuestion) + (layers - 2) * Keys(kept) + n, blend.AttendedKeys);
        Assert.Equal(chunkAndQuestion.Length + kept.Length - 1, blend.KvOnlyRowLayers);

        // One row through one layer without attention: twice the multiply-adds of its seven matrices.
        var c = Engine(fuser).Config;
        long hidden = c.HiddenSize, queries = c.Heads * c.HeadDim, kv = c.KvHeads * c.HeadDim, mlp = c.IntermediateSize;
        long matrices = hidden * queries + hidden * kv + hidden * kv + queries * hidden + hidden * mlp + hidden * mlp + mlp * hidden;
        Assert.Equal(2.0 * matrices * full.RowLayers + 4.0 * queries * full.AttendedKeys + 2.0 * 2 * hidden * kv * full.KvOnlyRowLayers, full.Flops(c));
        Assert.True(reuse.Flops(c) < blend.Flops(c) && blend.Flops(c) < full.Flops(c));
    }
    [Theory]
    [MemberData(nameof(Architectures))]
    public void A_fuser_that_kept_buffers_from_earlier_fusions_fuses_as_a_fresh_one(string architecture)
    {
        var (fuser, caches, prompt) = Setup(architecture);
        var methods = new[] { "full", "cacheblend:0.5", "query:0.3:2", "reuse", "epic:3", "cacheblend:0.2" }.Select(FusionMethod.Parse).ToList();
        foreach (var method in methods)
        {
            var used = fuser.Fuse(prompt, caches, method);
            var fresh = new Fuser(Engine(fuser)).Fuse(prompt, caches, method);
            Assert.Equal(fresh.Logits, used.Logits);
            Assert.Equal(fresh.Recomputed, used.Recomputed);
        }
    }
}
