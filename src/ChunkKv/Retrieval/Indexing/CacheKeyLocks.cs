using System.Buffers.Binary;

namespace ChunkKv.Retrieval.Indexing;

/// <summary>
/// In-process locks on cache keys, striped: a key maps to one of a fixed set of semaphores, so
/// memory stays constant; two keys that share a stripe only wait for each other, which is harmless.
/// </summary>
internal sealed class CacheKeyLocks
{
    private readonly SemaphoreSlim[] _stripes = Enumerable.Range(0, 256).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    public async Task<IAsyncDisposable> AcquireAsync(byte[] cacheKey, CancellationToken cancellationToken)
    {
        var stripe = _stripes[(int)(Hash(cacheKey) % (uint)_stripes.Length)];
        await stripe.WaitAsync(cancellationToken);
        return new Held(stripe);
    }

    /// <summary>The key's first 4 bytes: keys are SHA-256 digests, so any 4 bytes are uniform.</summary>
    internal static uint Hash(byte[] cacheKey) =>
        cacheKey.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(cacheKey) : (uint)cacheKey.Sum(b => b);

    private sealed class Held(SemaphoreSlim stripe) : IAsyncDisposable
    {
        private int _released;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                stripe.Release();
            }
            return ValueTask.CompletedTask;
        }
    }
}
