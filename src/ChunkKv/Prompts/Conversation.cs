namespace ChunkKv.Prompts;

/// <summary>A turn of a conversation before its last question.</summary>
/// <param name="Role"><see cref="User"/> or <see cref="Assistant"/>.</param>
public sealed record ChatTurn(string Role, string Content)
{
    public const string User = "user", Assistant = "assistant";
}

/// <summary>
/// What a client says around its question: its own system text and the conversation so far. It goes into
/// the prompt after the chunks (so their caches keep hitting); the question alone drives retrieval.
/// </summary>
public sealed record Conversation(string? System, IReadOnlyList<ChatTurn> History)
{
    public static Conversation None { get; } = new(null, []);

    public bool IsEmpty => System is null && History.Count == 0;
}
