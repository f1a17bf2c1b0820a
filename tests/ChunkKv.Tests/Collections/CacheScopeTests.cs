using System.Runtime.InteropServices;
using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Retrieval.Indexing;

namespace ChunkKv.Tests.Collections;

/// <summary>A collection's cache scope (a tenant) is part of every key it makes: scopes never find each other's caches.</summary>
public sealed class CacheScopeTests : IDisposable
{
    private readonly Inference.Models.LanguageModel _model = ModelFixtures.TinyQwen3();

    private ChunkCaches Caches(string scope) =>
        new ChunkKvRuntime(_model, new KvStore([new MemoryTier(1 << 20)]), KvCodec.Create(KvCodecId.F16)).Collection("docs", CollectionSettings.None, scope).Caches;

    [Fact]
    public void Keys_differ_between_scopes_and_an_empty_scope_keeps_the_keys_caches_had_before_scopes()
    {
        int[] chunk = [11, 12, 13];
        var (acme, globex, none) = (Caches("acme"), Caches("globex"), Caches(""));

        Assert.Equal(acme.KeyOf(chunk), Caches("acme").KeyOf(chunk));
        Assert.NotEqual(acme.KeyOf(chunk), globex.KeyOf(chunk));
        Assert.NotEqual(acme.KeyOf(chunk), none.KeyOf(chunk));
        Assert.NotEqual(acme.PrefixKey, globex.PrefixKey);
        Assert.Equal(ChunkCacheKey.Compute(none.Fingerprint.Span, none.Codec, chunk, MemoryMarshal.AsBytes(none.Prefix.AsSpan())), none.KeyOf(chunk));
        Assert.Equal(ChunkCacheKey.Compute(none.Fingerprint.Span, none.Codec, none.Prefix, []), none.PrefixKey);
    }

    public void Dispose() => _model.Dispose();
}
