using ChunkKv.Caching;
using ChunkKv.Caching.Codecs;
using ChunkKv.Caching.Tiers;
using ChunkKv.Collections;
using ChunkKv.Evaluation;
using ChunkKv.Fusion;
using Xunit.Abstractions;

namespace ChunkKv.Tests.Quality;

/// <summary>
/// The fidelity gate on the trained fixture model, on its cross-chunk held-apart prompts in two chunk
/// orders: reusing caches as they are fails the target (their first tokens agree with full's on a few
/// percent), a selective method passes at some budget of its ladder, each family's recorded budget is
/// its first rung that meets the target, and the default is the fastest passing method.
/// </summary>
public sealed class CalibratorTests(FixtureModel fixture, ITestOutputHelper output) : IClassFixture<FixtureModel>
{
    [Fact]
    public async Task Each_method_gets_the_smallest_budget_that_keeps_full_answers_and_the_fastest_passing_is_the_default()
    {
        var runtime = new ChunkKvRuntime(fixture.Model, new KvStore([new MemoryTier(1L << 30)]), KvCodec.Create(KvCodecId.F16));
        var prompts = fixture.Small.Where(r => r.Kind == "cross").Take(8).ToList();
        var ladders = new (string, IReadOnlyList<FusionMethod>)[]
        {
            ("reuse", [FusionMethod.Reuse]),
            ("cacheblend", FusionMethod.ParseList("cacheblend:0.02,cacheblend:0.15")),
            ("epic", FusionMethod.ParseList("epic:16")),
        };
        var result = await new Calibrator(runtime).CalibrateAsync(prompts, new CalibrationTarget(), orders: 2, ladders);

        foreach (var family in result.Methods)
        {
            foreach (var rung in family.Ladder)
            {
                output.WriteLine($"{rung.Method,-16} agree {rung.Agreement:P1} KL {rung.MeanKl:F4} meets {rung.Meets}");
            }
        }
        Assert.Equal(16, result.Prompts);
        Assert.Equal(fixture.Model.Fingerprint, result.ModelFingerprint);
        var reuse = result.Methods.Single(m => m.Family == "reuse");
        Assert.Null(reuse.Smallest);
        Assert.True(reuse.Ladder[0].Agreement < 0.5);
        var blend = result.Methods.Single(m => m.Family == "cacheblend");
        Assert.NotNull(blend.Smallest);
        foreach (var family in result.Methods)
        {
            // The recorded budget is the first rung that meets both bars; every rung's verdict follows from its figures.
            Assert.Equal(family.Ladder.FirstOrDefault(r => r.Meets)?.Method, family.Smallest);
            Assert.All(family.Ladder, r => Assert.Equal(r.Agreement >= 0.99 && r.MeanKl <= 0.01, r.Meets));
        }
        var passing = result.Methods.Where(m => m.Smallest is not null).Select(m => m.Ladder.Single(r => r.Method == m.Smallest)).ToList();
        Assert.Equal(passing.MinBy(r => r.MedianTtftSeconds)!.Method, result.Default);
    }
}
