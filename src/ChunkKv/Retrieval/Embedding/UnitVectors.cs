using System.Numerics.Tensors;

namespace ChunkKv.Retrieval.Embedding;

internal static class UnitVectors
{
    /// <summary>Scales to unit length in place; a zero vector stays zero. Returns the original norm.</summary>
    public static float Normalize(Span<float> vector)
    {
        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0)
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }
        return norm;
    }
}
