using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Tokenization;

/// <summary>
/// Byte-pair encoding as tokenizer.json's <c>model</c> describes it: a word starts as one symbol per
/// character (or per UTF-8 byte through <c>&lt;0xXX&gt;</c> tokens when a character is not in the
/// vocabulary and byte fallback is on), then the adjacent pair with the lowest merge rank is merged
/// until none is left, ties going to the leftmost pair.
/// </summary>
internal sealed class BpeModel
{
    private const int CacheLimit = 200_000;
    private readonly Dictionary<long, (int Rank, int Merged)> merges = [];
    private readonly ConcurrentDictionary<string, int[]> cache = new(StringComparer.Ordinal);
    private readonly int[] byteTokens = new int[256];
    private readonly bool byteFallback;
    private readonly bool ignoreMerges;
    private readonly bool fuseUnknown;
    private readonly int? unknownId;

    public BpeModel(JsonNode model)
    {
        var type = model["type"]?.GetValue<string>();
        if (type != "BPE")
        {
            throw new TokenizerFormatException($"model type '{type}' is not supported (BPE is)");
        }
        if (!string.IsNullOrEmpty(model["continuing_subword_prefix"]?.GetValue<string>())
            || !string.IsNullOrEmpty(model["end_of_word_suffix"]?.GetValue<string>()))
        {
            throw new TokenizerFormatException("BPE with a continuing-subword prefix or end-of-word suffix is not supported");
        }
        var vocab = model["vocab"] as JsonObject ?? throw new TokenizerFormatException("model.vocab is missing");
        Vocabulary = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        foreach (var (token, id) in vocab)
        {
            Vocabulary[token] = id!.GetValue<int>();
        }
        byteFallback = model["byte_fallback"]?.GetValue<bool>() ?? false;
        ignoreMerges = model["ignore_merges"]?.GetValue<bool>() ?? false;
        fuseUnknown = model["fuse_unk"]?.GetValue<bool>() ?? false;
        if (model["unk_token"]?.GetValue<string>() is { } unk && Vocabulary.TryGetValue(unk, out var unkId))
        {
            unknownId = unkId;
        }
        for (var b = 0; b < 256; b++)
        {
            byteTokens[b] = Vocabulary.GetValueOrDefault($"<0x{b:X2}>", -1);
        }
        var rank = 0;
        foreach (var merge in model["merges"] as JsonArray ?? [])
        {
            var (left, right) = merge switch
            {
                JsonArray pair => (pair[0]!.GetValue<string>(), pair[1]!.GetValue<string>()),
                _ => SplitMerge(merge!.GetValue<string>()),
            };
            if (Vocabulary.TryGetValue(left, out var a) && Vocabulary.TryGetValue(right, out var b)
                && Vocabulary.TryGetValue(left + right, out var merged))
            {
                merges.TryAdd(Key(a, b), (rank, merged));
            }
            else
            {
                throw new TokenizerFormatException($"merge {rank} ('{left}' + '{right}') uses a token that is not in the vocabulary");
            }
            rank++;
        }
    }

    public Dictionary<string, int> Vocabulary { get; }

    public void Encode(string word, List<int> output)
    {
        if (word.Length == 0)
        {
            return;
        }
        if (ignoreMerges && Vocabulary.TryGetValue(word, out var whole))
        {
            output.Add(whole);
            return;
        }
        if (!cache.TryGetValue(word, out var ids))
        {
            ids = Merge(InitialSymbols(word));
            if (cache.Count >= CacheLimit)
            {
                cache.Clear();
            }
            cache[word] = ids;
        }
        output.AddRange(ids);
    }

    private List<int> InitialSymbols(string word)
    {
        var symbols = new List<int>(word.Length);
        var lastWasUnknown = false;
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in word.EnumerateRunes())
        {
            if (Vocabulary.TryGetValue(rune.ToString(), out var id))
            {
                symbols.Add(id);
                lastWasUnknown = false;
                continue;
            }
            var length = rune.EncodeToUtf8(utf8);
            if (byteFallback && utf8[..length].ToArray().All(b => byteTokens[b] >= 0))
            {
                foreach (var b in utf8[..length])
                {
                    symbols.Add(byteTokens[b]);
                }
                lastWasUnknown = false;
                continue;
            }
            if (unknownId is not { } unk)
            {
                throw new TokenizerFormatException(
                    $"character U+{rune.Value:X4} is not in the vocabulary and the tokenizer has no unknown token or byte fallback");
            }
            if (!(fuseUnknown && lastWasUnknown))
            {
                symbols.Add(unk);
            }
            lastWasUnknown = true;
        }
        return symbols;
    }

    private int[] Merge(List<int> symbols)
    {
        var n = symbols.Count;
        var ids = symbols.ToArray();
        var next = new int[n];
        var previous = new int[n];
        var alive = new bool[n];
        for (var i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            previous[i] = i - 1;
            alive[i] = true;
        }
        // Priority: rank first, then position, so equal ranks merge left to right.
        var queue = new PriorityQueue<(int Position, int Left, int Right), long>();
        void Consider(int position)
        {
            if (position >= 0 && next[position] >= 0 && merges.TryGetValue(Key(ids[position], ids[next[position]]), out var m))
            {
                queue.Enqueue((position, ids[position], ids[next[position]]), ((long)m.Rank << 32) | (uint)position);
            }
        }
        for (var i = 0; i + 1 < n; i++)
        {
            Consider(i);
        }
        while (queue.TryDequeue(out var candidate, out _))
        {
            var (position, left, right) = candidate;
            var after = next[position];
            if (!alive[position] || after < 0 || ids[position] != left || ids[after] != right)
            {
                continue; // stale: one side was merged since this pair was queued
            }
            ids[position] = merges[Key(left, right)].Merged;
            alive[after] = false;
            next[position] = next[after];
            if (next[after] >= 0)
            {
                previous[next[after]] = position;
            }
            Consider(previous[position]);
            Consider(position);
        }
        var result = new List<int>(n);
        for (var i = 0; i >= 0 && i < n; i = next[i])
        {
            result.Add(ids[i]);
        }
        return result.ToArray();
    }

    private static (string, string) SplitMerge(string merge)
    {
        var space = merge.IndexOf(' ', 1);
        if (space < 0)
        {
            throw new TokenizerFormatException($"merge '{merge}' is not two tokens separated by a space");
        }
        return (merge[..space], merge[(space + 1)..]);
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;
}
