namespace ChunkKv.Inference.Models;

/// <summary>How a weight matrix is kept in memory. Vectors (norms, biases) are always float32: they are small.</summary>
public enum WeightType
{
    F32,
    F16,
    BF16,
    /// <summary>8-bit integers with a float32 scale per <see cref="Tensors.Q8.GroupSize"/> weights of a row (Q8_0-like).</summary>
    Q8,
}

/// <summary>
/// The <c>--weights</c> choice: <c>auto</c> keeps what the checkpoint stores (bf16 stays bf16, used in
/// place from the mapped file), or one type for every matrix (embeddings and LM head included).
/// </summary>
public sealed record WeightChoice(WeightType? Type)
{
    public static WeightChoice Auto { get; } = new((WeightType?)null);

    public const string Names = "auto|f32|bf16|f16|q8";

    public const string MemoryNames = "auto|mapped|huge-pages";

    /// <summary>Where the matrices live (<c>--weight-memory</c>); the type and the values do not depend on it.</summary>
    public WeightMemory Memory { get; init; } = WeightMemory.Auto;

    /// <summary>This choice with the <c>--weight-memory</c> named by <paramref name="text"/>.</summary>
    /// <exception cref="FormatException">Not one of <see cref="MemoryNames"/>.</exception>
    public WeightChoice WithMemory(string text) => this with
    {
        Memory = text.Trim().ToLowerInvariant() switch
        {
            "auto" => WeightMemory.Auto,
            "mapped" => WeightMemory.Mapped,
            "huge-pages" => WeightMemory.HugePages,
            _ => throw new FormatException($"weight memory must be one of {MemoryNames}, not '{text}'"),
        },
    };

    /// <exception cref="FormatException">Not one of <see cref="Names"/>.</exception>
    public static WeightChoice Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => Auto,
        "f32" or "fp32" => new(WeightType.F32),
        "bf16" => new(WeightType.BF16),
        "f16" or "fp16" => new(WeightType.F16),
        "q8" or "q8_0" => new(WeightType.Q8),
        _ => throw new FormatException($"weights must be one of {Names}, not '{text}'"),
    };

    /// <summary>The type a tensor stored as <paramref name="stored"/> is kept as.</summary>
    public WeightType For(TensorType stored) => Type ?? stored switch
    {
        TensorType.BF16 => WeightType.BF16,
        TensorType.F16 => WeightType.F16,
        _ => WeightType.F32,
    };

    /// <summary>Whether keeping <paramref name="stored"/> as <paramref name="kept"/> changes its values (so caches computed with either must not mix).</summary>
    public static bool Rounds(TensorType stored, WeightType kept) => (stored, kept) switch
    {
        (_, WeightType.Q8) => true,
        (_, WeightType.F32) => false,
        (TensorType.F16, WeightType.F16) or (TensorType.BF16, WeightType.BF16) => false,
        _ => true,
    };

    public override string ToString() => Type switch
    {
        null => "auto",
        WeightType.F32 => "f32",
        WeightType.BF16 => "bf16",
        WeightType.F16 => "f16",
        _ => "q8",
    };
}
