using ChunkKv.Inference.Generation;

namespace ChunkKv.Inference.Tests.Generation;

public sealed class GeneratorTests
{
    [Fact]
    public void Greedy_decoding_picks_the_argmax_of_a_full_pass_at_every_step()
    {
        using var model = TinyModels.Load("tiny-llama3");
        var t = model.Transformer;
        int[] prompt = [10, 20, 30, 40];
        var streamed = new List<int>();
        var result = Generator.Generate(t, prompt, 12, SamplingOptions.Greedy, streamed.Add);
        Assert.Equal(result.Tokens, streamed);
        var context = prompt.ToList();
        foreach (var token in result.Tokens)
        {
            var logits = t.Prefill(context.ToArray(), t.NewSequence());
            Assert.Equal(Array.IndexOf(logits, logits.Max()), token);
            context.Add(token);
        }
        Assert.True(result.Tokens.Length == 12 || result.StopReason == StopReason.EndOfSequence);
    }

    [Fact]
    public void Decoding_stops_at_an_end_of_sequence_token()
    {
        using var model = TinyModels.Load("tiny-mistral");
        var t = model.Transformer;
        int[] prompt = [7, 8, 9];
        var free = Generator.Generate(t, prompt, 6, SamplingOptions.Greedy);
        // Declare the third greedy token the end of sequence: decoding must stop before it.
        var stopping = new Inference.Models.Transformer(t.Config with { EosTokenIds = [free.Tokens[2]] }, t.Weights);
        var stopped = Generator.Generate(stopping, prompt, 6, SamplingOptions.Greedy);
        Assert.Equal(StopReason.EndOfSequence, stopped.StopReason);
        Assert.Equal(free.Tokens[..2], stopped.Tokens);
    }

    [Fact]
    public void Sampling_with_a_seed_repeats_and_top_p_near_zero_is_greedy()
    {
        using var model = TinyModels.Load("tiny-qwen2");
        var t = model.Transformer;
        int[] prompt = [3, 1, 4, 1, 5];
        var hot = new SamplingOptions(Temperature: 1.5f, TopP: 0.95f, Seed: 11);
        Assert.Equal(Generator.Generate(t, prompt, 10, hot).Tokens, Generator.Generate(t, prompt, 10, hot).Tokens);
        var nucleusOfOne = new SamplingOptions(Temperature: 1f, TopP: 1e-6f, Seed: 5);
        Assert.Equal(Generator.Generate(t, prompt, 10, SamplingOptions.Greedy).Tokens,
            Generator.Generate(t, prompt, 10, nucleusOfOne).Tokens);
    }

    [Fact]
    public void Sampling_follows_the_softmax_distribution()
    {
        float[] logits = [0f, MathF.Log(3f), float.NegativeInfinity, MathF.Log(6f)];
        var sampler = new Sampler(new SamplingOptions(Temperature: 1f, Seed: 1));
        var counts = new int[4];
        for (var i = 0; i < 20000; i++)
        {
            counts[sampler.Next(logits)]++;
        }
        Assert.Equal(0, counts[2]);
        Assert.InRange(counts[0] / 20000.0, 0.1 - 0.015, 0.1 + 0.015);
        Assert.InRange(counts[1] / 20000.0, 0.3 - 0.02, 0.3 + 0.02);
        Assert.InRange(counts[3] / 20000.0, 0.6 - 0.02, 0.6 + 0.02);
    }
}
