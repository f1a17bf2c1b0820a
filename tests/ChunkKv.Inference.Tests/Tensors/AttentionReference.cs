namespace ChunkKv.Inference.Tests.Tensors;

/// <summary>Causal attention by position, written directly in double precision: the reference the attention kernels are held to.</summary>
internal static class AttentionReference
{
    /// <summary>
    /// The largest absolute difference between <paramref name="output"/> and a direct double softmax over the keys each
    /// query may see (position ≤ its own); a query that sees none is expected to be all zeros.
    /// </summary>
    public static double MaxError(float[] q, int[] queryPositions, int heads, int headDim, float[] k, float[] v,
        int[] keyPositions, int kvHeads, float[] output)
    {
        var maxError = 0.0;
        for (var r = 0; r < queryPositions.Length; r++)
        {
            for (var h = 0; h < heads; h++)
            {
                var g = h / (heads / kvHeads);
                var scores = new double[keyPositions.Length];
                var max = double.NegativeInfinity;
                for (var j = 0; j < keyPositions.Length; j++)
                {
                    if (keyPositions[j] > queryPositions[r])
                    {
                        scores[j] = double.NegativeInfinity;
                        continue;
                    }
                    double dot = 0;
                    for (var d = 0; d < headDim; d++)
                    {
                        dot += (double)q[(r * heads + h) * headDim + d] * k[(j * kvHeads + g) * headDim + d];
                    }
                    scores[j] = dot / Math.Sqrt(headDim);
                    max = Math.Max(max, scores[j]);
                }
                var sees = !double.IsNegativeInfinity(max);
                var weights = scores.Select(s => sees ? Math.Exp(s - max) : 0).ToArray();
                var total = weights.Sum();
                for (var d = 0; d < headDim; d++)
                {
                    double expected = 0;
                    for (var j = 0; sees && j < keyPositions.Length; j++)
                    {
                        expected += weights[j] / total * v[(j * kvHeads + g) * headDim + d];
                    }
                    maxError = Math.Max(maxError, Math.Abs(expected - output[(r * heads + h) * headDim + d]));
                }
            }
        }
        return maxError;
    }

    public static float[] Fill(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
}
