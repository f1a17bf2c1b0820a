using ChunkKv.Inference.Models;

namespace ChunkKv.Fusion;

/// <summary>
/// The arithmetic one fusion did, counted where rows are computed (<see cref="ActiveRows"/>), so a
/// method's speed-up can be set against the speed-up its schedule allows on paper. Counted: rows
/// run through a whole layer (the projections, the MLP, and attention over every slot each row
/// sees by the causal rule), and rows whose K/V alone were computed in a layer (CacheBlend's check
/// layer; every row but the last in the model's last layer). Left out, being small beside a layer:
/// the scoring passes (CacheBlend's deviation, the question's attention for <c>query</c>), the
/// embeddings and the one row of logits.
/// </summary>
public sealed class FusionWork
{
    /// <summary>Σ over layers of the rows run through that whole layer.</summary>
    public long RowLayers { get; private set; }

    /// <summary>Σ over layers and those rows of the slots each row attended.</summary>
    public long AttendedKeys { get; private set; }

    /// <summary>Σ over layers of the rows whose K and V alone were computed there.</summary>
    public long KvOnlyRowLayers { get; private set; }

    /// <summary>
    /// A plain causal prefill of <paramref name="tokens"/> tokens through <paramref name="layers"/> layers: every
    /// row, every key before it; in the last layer every row's K/V and the last row alone through the rest
    /// (its logits are all that is read), as the engine runs it.
    /// </summary>
    public static FusionWork OfPrefill(int layers, int tokens)
    {
        var work = new FusionWork();
        for (var layer = 0; layer < layers - 1; layer++)
        {
            work.AddLayer(tokens, (long)tokens * (tokens + 1) / 2);
        }
        work.AddKvOnly(tokens - 1);
        work.AddLayer(1, tokens);
        return work;
    }

    internal void AddLayer(int rows, long attendedKeys)
    {
        RowLayers += rows;
        AttendedKeys += attendedKeys;
    }

    internal void AddKvOnly(int rows) => KvOnlyRowLayers += rows;

    /// <summary>Floating-point operations (a multiply-add is two) of the counted work on a model of this shape.</summary>
    public double Flops(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        double hidden = config.HiddenSize;
        double queryWidth = config.Heads * config.HeadDim;
        double kvWidth = config.KvHeads * config.HeadDim;
        var kvProjection = 2 * hidden * 2 * kvWidth;
        var row = 2 * hidden * 2 * queryWidth + kvProjection + 2 * 3 * hidden * config.IntermediateSize;
        var perKey = 2 * 2 * queryWidth; // a score and a weighted value per head dimension
        return RowLayers * row + AttendedKeys * perKey + KvOnlyRowLayers * kvProjection;
    }
}
