using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Format;
using ChunkKv.Fusion;
using ChunkKv.Inference.Kv;
using ChunkKv.Inference.Models;
using ChunkKv.Inference.Tests;

namespace ChunkKv.Tests.Fusion;

/// <summary>
/// The stored K/V land in the fused sequence layer by layer, beside the computation: checked entries
/// decode straight into the slots, a fill that lags behind changes nothing, and a layer that cannot be
/// written fails the fusion without leaving anything running.
/// </summary>
public sealed class StoredKvFillTests : IClassFixture<StoredKvFillTests.Model>
{
    public sealed class Model : IDisposable
    {
        public Model()
        {
            var directory = Fixtures.TempDirectory("fusion-fill");
            RandomModel.Write(directory, ModelShape.Tiny.Single(s => s.Name == "tiny-llama3") with { Layers = 4 }, seed: 5);
            Loaded = LanguageModel.Load(directory);
        }

        public LanguageModel Loaded { get; }

        public void Dispose() => Loaded.Dispose();
    }

    private static readonly byte[] Fingerprint = new byte[ChunkCacheHeader.FingerprintBytes];
    private static readonly ChunkCacheKey EntryKey = ChunkCacheKey.Compute(Fingerprint, new Float32Codec(), [1]);

    private readonly Transformer transformer;
    private readonly FusionPrompt prompt;
    private readonly PromptCaches caches;

    public StoredKvFillTests(Model model)
    {
        transformer = model.Loaded.Transformer;
        var random = new Random(3);
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => random.Next(1, 384)).ToArray();
        prompt = new FusionPrompt(Tokens(4), [Tokens(11), Tokens(9), Tokens(13)], Tokens(5));
        caches = PromptCacheComputation.ForPrompt(transformer, prompt);
    }

    public static TheoryData<string> Methods => new(["prefix", "reuse", "epic:3", "kvlink", "cacheblend:0.3", "cachecraft:0.3", "query:0.3"]);

    private PromptCaches Wrapped(Func<IKvLayerSource, IKvLayerSource> wrap) =>
        new(wrap(caches.Prefix!), caches.Chunks.Select(wrap).ToList());

    [Theory]
    [MemberData(nameof(Methods))]
    public void Checked_entries_decoded_into_the_slots_fuse_as_the_caches_they_encode(string name)
    {
        var method = FusionMethod.Parse(name);
        var expected = new Fuser(transformer).Fuse(prompt, caches, method);
        var entries = Wrapped(kv => CheckedEntry.Check(ChunkCacheCodec.Encode((KvCache)kv, new Float32Codec(), Fingerprint, EntryKey), Fingerprint, EntryKey));

        var fused = new Fuser(transformer).Fuse(prompt, entries, method);

        Assert.Equal(expected.Logits, fused.Logits);
        Assert.Equal(expected.Recomputed, fused.Recomputed);
        Assert.True(fused.Timings.Fill > TimeSpan.Zero);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void A_fill_that_lags_behind_the_layers_changes_nothing(string name)
    {
        var method = FusionMethod.Parse(name);
        var expected = new Fuser(transformer).Fuse(prompt, caches, method);

        var fused = new Fuser(transformer).Fuse(prompt, Wrapped(kv => new SlowSource(kv, failAtLayer: null)), method);

        Assert.Equal(expected.Logits, fused.Logits);
        Assert.Equal(expected.Recomputed, fused.Recomputed);
        // The whole cache is in place for decoding, whichever layers the method read.
        Assert.Equal(transformer.Prefill([7], expected.Sequence), transformer.Prefill([7], fused.Sequence));
    }

    [Fact]
    public void A_layer_that_cannot_be_written_fails_the_fusion_and_leaves_nothing_running()
    {
        var sources = new List<SlowSource>();
        var failing = Wrapped(kv =>
        {
            var source = new SlowSource(kv, failAtLayer: 2);
            sources.Add(source);
            return source;
        });

        var error = Assert.Throws<InvalidOperationException>(() => new Fuser(transformer).Fuse(prompt, failing, FusionMethod.Default));

        Assert.Contains("layer 2", error.Message);
        var writes = sources.Sum(s => s.Writes);
        Thread.Sleep(100);
        Assert.Equal(writes, sources.Sum(s => s.Writes)); // nothing is still writing into the sequence
        Assert.All(sources, s => Assert.InRange(s.Writes, 1, transformer.Config.Layers)); // no layer was written twice
    }

    /// <summary>A source that takes its time per layer (and can fail one), so the computation overtakes the fill.</summary>
    private sealed class SlowSource(IKvLayerSource inner, int? failAtLayer) : IKvLayerSource
    {
        private int writes;

        public int Writes => Volatile.Read(ref writes);
        public int Layers => inner.Layers;
        public int KvHeads => inner.KvHeads;
        public int HeadDim => inner.HeadDim;
        public int[] Positions => inner.Positions;
        public KeyForm KeyForm => inner.KeyForm;

        public void WriteLayer(int layer, Span<float> keys, Span<float> values)
        {
            Interlocked.Increment(ref writes);
            Thread.Sleep(5);
            if (layer == failAtLayer)
            {
                throw new InvalidOperationException($"layer {layer} cannot be read");
            }
            inner.WriteLayer(layer, keys, values);
        }
    }
}
