using System.Threading.Channels;
using ChunkKv.Collections;
using ChunkKv.Fusion;
using ChunkKv.Pipeline;
using ChunkKv.Server.Engine;

namespace ChunkKv.Server.Api;

/// <summary>
/// A query whose answer arrives in pieces as it is decoded: the pipeline runs on a worker and hands
/// each piece to <see cref="Pieces"/>; <see cref="Result"/> completes with the whole result after the last.
/// Both streaming endpoints (<c>/v1/query</c> and the OpenAI-compatible chat) read it the same way.
/// </summary>
internal sealed class AnswerStream
{
    private readonly Channel<string> pieces = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    private AnswerStream(CollectionService service, CollectionContext collection, QueryRequest request, IReadOnlyList<FusionMethod> compare,
        CancellationToken cancellationToken) =>
        Result = Task.Run(async () =>
        {
            try
            {
                return await service.AskAsync(collection, request, compare, piece => pieces.Writer.TryWrite(piece), cancellationToken);
            }
            finally
            {
                pieces.Writer.Complete();
            }
        }, CancellationToken.None);

    /// <param name="cancellationToken">Stops decoding (the answer so far is the result).</param>
    public static AnswerStream Start(CollectionService service, CollectionContext collection, QueryRequest request, IReadOnlyList<FusionMethod> compare,
        CancellationToken cancellationToken) => new(service, collection, request, compare, cancellationToken);

    public IAsyncEnumerable<string> Pieces(CancellationToken cancellationToken) => pieces.Reader.ReadAllAsync(cancellationToken);

    /// <summary>
    /// Returns once the first piece is decoded, or the answer has ended; rethrows what ended it when it
    /// failed before its first piece. A stream calls this before it writes a byte: whatever can fail
    /// before the answer starts (a prompt too long, a collection deleted while the request waited for
    /// the engine) is then still a plain 4xx problem, not a stream cut off after its headers.
    /// </summary>
    public async Task FirstPieceAsync(CancellationToken cancellationToken)
    {
        if (!await pieces.Reader.WaitToReadAsync(cancellationToken))
        {
            await Result;
        }
    }

    public Task<Answered> Result { get; }
}
