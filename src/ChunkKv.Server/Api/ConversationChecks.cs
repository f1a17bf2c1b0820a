using ChunkKv.Prompts;
using ChunkKv.Server.Engine;

namespace ChunkKv.Server.Api;

/// <summary>A client's system text and earlier turns, checked before they reach the model's template: the one check both query endpoints use.</summary>
internal static class ConversationChecks
{
    /// <summary>The conversation, or null when there is none; problems are reported through <paramref name="error"/> by field.</summary>
    public static Conversation? Validate(string? system, IReadOnlyList<TurnBody?>? history, EngineOptions limits, Action<string, string> error)
    {
        if (system is null && history is null or { Count: 0 })
        {
            return null;
        }
        var characters = 0;
        if (system is not null)
        {
            if (string.IsNullOrWhiteSpace(system))
            {
                error("system", "system, when given, must hold text");
            }
            else if (TextChecks.HasLoneSurrogate(system))
            {
                error("system", $"the system text {TextChecks.LoneSurrogate}");
            }
            characters += TextChecks.Characters(system);
        }
        var turns = new List<ChatTurn>();
        history ??= [];
        if (history.Count > limits.MaxHistoryTurns)
        {
            error("history", $"history holds {history.Count} turns; the limit is {limits.MaxHistoryTurns}");
        }
        for (var i = 0; i < history.Count; i++)
        {
            var turn = history[i];
            if (turn?.Role is not (ChatTurn.User or ChatTurn.Assistant))
            {
                error($"history[{i}].role", $"role must be '{ChatTurn.User}' or '{ChatTurn.Assistant}', not '{turn?.Role}'");
                continue;
            }
            if (turn.Content is null)
            {
                error($"history[{i}].content", "content must be text");
                continue;
            }
            if (TextChecks.HasLoneSurrogate(turn.Content))
            {
                error($"history[{i}].content", $"the content {TextChecks.LoneSurrogate}");
            }
            characters += TextChecks.Characters(turn.Content);
            turns.Add(new ChatTurn(turn.Role, turn.Content));
        }
        if (characters > limits.MaxConversationCharacters)
        {
            error("history", $"the system text and history hold {characters} characters; the limit is {limits.MaxConversationCharacters}");
        }
        return new Conversation(system, turns);
    }
}
