using System.Text.Json;
using System.Text.Json.Nodes;

namespace ChunkKv.Inference.Tokenization;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c>: added tokens, normalizer, pre-tokenizer, BPE model,
/// post-processor and decoder, for byte-level BPE (Llama 3, Qwen 2/3) and metaspace BPE with
/// byte fallback (Llama 2, Mistral). Thread-safe.
/// </summary>
public sealed class Tokenizer
{
    private readonly AddedTokens added;
    private readonly Func<string, string> normalize;
    private readonly Func<List<string>, List<string>> preTokenize;
    private readonly BpeModel model;
    private readonly Func<List<string>, List<string>> decode;
    private readonly string[] idToToken;
    private readonly int[] prefix;
    private readonly int[] suffix;

    private Tokenizer(JsonObject json, JsonObject? config)
    {
        added = new AddedTokens(json["added_tokens"] as JsonArray);
        normalize = Normalizers.Parse(json["normalizer"]);
        preTokenize = PreTokenizers.Parse(json["pre_tokenizer"]);
        model = new BpeModel(json["model"] ?? throw new TokenizerFormatException("'model' is missing"));
        decode = Decoders.Parse(json["decoder"]);
        var size = Math.Max(model.Vocabulary.Values.DefaultIfEmpty(-1).Max(), added.ById.Keys.DefaultIfEmpty(-1).Max()) + 1;
        idToToken = new string[size];
        foreach (var (token, id) in model.Vocabulary)
        {
            idToToken[id] = token;
        }
        foreach (var (id, token) in added.ById)
        {
            idToToken[id] = token.Content;
        }
        BosId = SpecialId(config?["bos_token"]);
        EosId = SpecialId(config?["eos_token"]);
        (prefix, suffix) = PostProcessor(json["post_processor"], config);
    }

    /// <summary>Number of ids (vocabulary and added tokens).</summary>
    public int VocabSize => idToToken.Length;

    public int? BosId { get; }
    public int? EosId { get; }

    public static Tokenizer FromJson(string tokenizerJson, string? tokenizerConfigJson = null)
    {
        try
        {
            var json = JsonNode.Parse(tokenizerJson)?.AsObject() ?? throw new TokenizerFormatException("tokenizer.json is empty");
            var config = tokenizerConfigJson is null ? null : JsonNode.Parse(tokenizerConfigJson)?.AsObject();
            return new Tokenizer(json, config);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or NullReferenceException)
        {
            throw new TokenizerFormatException($"tokenizer.json could not be read: {e.Message}", e);
        }
    }

    /// <summary>Reads <c>tokenizer.json</c> and, when present, <c>tokenizer_config.json</c> from a model directory.</summary>
    public static Tokenizer FromDirectory(string directory)
    {
        var path = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(path))
        {
            throw new TokenizerFormatException($"no tokenizer.json in {directory}");
        }
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        return FromJson(File.ReadAllText(path), File.Exists(configPath) ? File.ReadAllText(configPath) : null);
    }

    /// <summary>Token ids for <paramref name="text"/>; special tokens written in the text are recognized.</summary>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens)
        {
            ids.AddRange(prefix);
        }
        foreach (var (token, piece) in added.Split(text))
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                continue;
            }
            foreach (var word in preTokenize([normalize(piece)]))
            {
                model.Encode(word, ids);
            }
        }
        if (addSpecialTokens)
        {
            ids.AddRange(suffix);
        }
        return ids.ToArray();
    }

    /// <summary>The text of <paramref name="ids"/>; special tokens are left out unless asked for, ids without a token are skipped.</summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true)
    {
        var pieces = new List<string>();
        var pending = new List<string>();
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)idToToken.Length || idToToken[id] is null)
            {
                continue; // a model's embedding is often padded past the tokenizer; such ids spell nothing
            }
            if (added.ById.TryGetValue(id, out var token))
            {
                // Added tokens are written as they are, not through the decoder.
                if (pending.Count > 0)
                {
                    pieces.AddRange(decode(pending));
                    pending = [];
                }
                if (!(skipSpecialTokens && token.Special))
                {
                    pieces.Add(token.Content);
                }
                continue;
            }
            pending.Add(idToToken[id]);
        }
        if (pending.Count > 0)
        {
            pieces.AddRange(decode(pending));
        }
        return string.Concat(pieces);
    }

    /// <summary>The vocabulary string of an id (byte-level tokens in their byte alphabet).</summary>
    public string TokenText(int id) => (uint)id < (uint)idToToken.Length ? idToToken[id] ?? "" : "";

    /// <summary>The id of a token string, when it is one token.</summary>
    public int? TokenId(string token) =>
        added.TryGet(token, out var special) ? special.Id : model.Vocabulary.TryGetValue(token, out var id) ? id : null;

    private int? SpecialId(JsonNode? node)
    {
        var content = node switch
        {
            null => null,
            JsonObject o => o["content"]?.GetValue<string>(),
            _ => node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : null,
        };
        return content is null ? null : TokenId(content);
    }

    /// <summary>
    /// The special tokens put around an encoded text: from a <c>TemplateProcessing</c> post-processor,
    /// or else from <c>add_bos_token</c>/<c>add_eos_token</c> in tokenizer_config.json.
    /// </summary>
    private (int[] Prefix, int[] Suffix) PostProcessor(JsonNode? node, JsonObject? config)
    {
        var processor = node;
        if (processor?["type"]?.GetValue<string>() == "Sequence")
        {
            processor = (processor["processors"] as JsonArray)?.FirstOrDefault(p => p?["type"]?.GetValue<string>() == "TemplateProcessing");
        }
        if (processor?["type"]?.GetValue<string>() == "TemplateProcessing")
        {
            var before = new List<int>();
            var after = new List<int>();
            var seenSequence = false;
            foreach (var item in processor["single"] as JsonArray ?? [])
            {
                if (item?["Sequence"] is not null)
                {
                    seenSequence = true;
                    continue;
                }
                var name = item?["SpecialToken"]?["id"]?.GetValue<string>();
                var id = name is null ? null : TokenId(name);
                if (id is { } value)
                {
                    (seenSequence ? after : before).Add(value);
                }
            }
            return (before.ToArray(), after.ToArray());
        }
        var addBos = config?["add_bos_token"]?.GetValue<bool>() ?? false;
        var addEos = config?["add_eos_token"]?.GetValue<bool>() ?? false;
        return (addBos && BosId is { } bos ? [bos] : [], addEos && EosId is { } eos ? [eos] : []);
    }
}

/// <summary>A tokenizer.json this engine cannot use; the message says which part.</summary>
public sealed class TokenizerFormatException : Exception
{
    public TokenizerFormatException(string message) : base(message)
    {
    }

    public TokenizerFormatException(string message, Exception inner) : base(message, inner)
    {
    }
}
