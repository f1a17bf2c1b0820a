using System.Numerics.Tensors;

namespace ChunkKv.Inference.Tensors;

/// <summary>The element-wise and row-wise operations of a Llama-family layer.</summary>
public static unsafe class Kernels
{
    /// <summary><c>y = x · Wᵀ (+ bias)</c>: x is <c>[rows, in]</c>, W is <c>[out, in]</c> (the Hugging Face layout), y is <c>[rows, out]</c>.</summary>
    public static void Linear(IGemm gemm, float* x, int rows, int inFeatures, float* weight, int outFeatures,
        float* bias, float* y)
    {
        // Splitting the output features keeps each thread on its own slice of the weights.
        Workers.ForRanges(outFeatures, 64, (start, count) =>
            gemm.Sgemm(false, true, rows, count, inFeatures, 1f, x, inFeatures,
                weight + (long)start * inFeatures, inFeatures, 0f, y + start, outFeatures));
        if (bias != null)
        {
            var biasSpan = new ReadOnlySpan<float>(bias, outFeatures);
            for (var r = 0; r < rows; r++)
            {
                var row = new Span<float>(y + (long)r * outFeatures, outFeatures);
                TensorPrimitives.Add(row, biasSpan, row);
            }
        }
    }

    /// <summary>RMSNorm of each row of <paramref name="width"/> floats: <c>y = x / rms(x) * weight</c>.</summary>
    public static void RmsNorm(float* x, float* y, int rows, int width, float* weight, float epsilon)
    {
        var w = new ReadOnlySpan<float>(weight, width);
        for (var r = 0; r < rows; r++)
        {
            var input = new ReadOnlySpan<float>(x + (long)r * width, width);
            var output = new Span<float>(y + (long)r * width, width);
            var sumOfSquares = TensorPrimitives.SumOfSquares(input);
            var scale = 1f / MathF.Sqrt(sumOfSquares / width + epsilon);
            TensorPrimitives.Multiply(input, scale, output);
            TensorPrimitives.Multiply(output, w, output);
        }
    }

    /// <summary>SwiGLU in place: <c>gate = silu(gate) * up</c> over <paramref name="count"/> floats.</summary>
    public static void SiluMultiply(float* gate, float* up, long count)
    {
        const int Block = 1 << 14;
        var blocks = (int)((count + Block - 1) / Block);
        Workers.ForRanges(blocks, 1, (first, n) =>
        {
            var start = (long)first * Block;
            var length = (int)Math.Min((long)n * Block, count - start);
            var g = new Span<float>(gate + start, length);
            var u = new ReadOnlySpan<float>(up + start, length);
            Span<float> sigmoid = stackalloc float[1024];
            for (var offset = 0; offset < length; offset += sigmoid.Length)
            {
                var piece = Math.Min(sigmoid.Length, length - offset);
                var gPiece = g.Slice(offset, piece);
                var s = sigmoid[..piece];
                TensorPrimitives.Sigmoid(gPiece, s);
                TensorPrimitives.Multiply(gPiece, s, gPiece);
                TensorPrimitives.Multiply(gPiece, u.Slice(offset, piece), gPiece);
            }
        });
    }

    /// <summary><c>x += y</c> over <paramref name="count"/> floats.</summary>
    public static void AddInPlace(float* x, float* y, long count)
    {
        const int Block = 1 << 20;
        for (long start = 0; start < count; start += Block)
        {
            var length = (int)Math.Min(Block, count - start);
            var target = new Span<float>(x + start, length);
            TensorPrimitives.Add(target, new ReadOnlySpan<float>(y + start, length), target);
        }
    }
}
