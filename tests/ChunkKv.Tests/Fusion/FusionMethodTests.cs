using ChunkKv.Fusion;

namespace ChunkKv.Tests.Fusion;

public sealed class FusionMethodTests
{
    [Theory]
    [InlineData("full", "full")]
    [InlineData("prefix", "prefix")]
    [InlineData("reuse", "reuse")]
    [InlineData("reuse:reordered", "reuse")]
    [InlineData("reuse:composite", "reuse:composite")]
    [InlineData("epic:16", "epic:16")]
    [InlineData("cacheblend", "cacheblend:0.15")]
    [InlineData("CacheBlend:0.15", "cacheblend:0.15")]
    [InlineData("cacheblend:0.3:2", "cacheblend:0.3:2")]
    [InlineData("cacheblend:0.3:1:v", "cacheblend:0.3:1:v")]
    [InlineData("kvlink", "kvlink:1")]
    [InlineData("kvlink:3", "kvlink:3")]
    [InlineData("cachecraft", "cachecraft:0.15")]
    [InlineData("query:0.2", "query:0.2")]
    [InlineData("query:0.2:8", "query:0.2:8")]
    public void Names_parse_to_their_canonical_form_and_back(string name, string canonical)
    {
        var method = FusionMethod.Parse(name);
        Assert.Equal(canonical, method.Name);
        Assert.Equal(method, FusionMethod.Parse(method.Name));
    }

    [Theory]
    [InlineData("", "is not a fusion method")]
    [InlineData("blend", "is not a fusion method")]
    [InlineData("full:1", "takes no parameters")]
    [InlineData("epic", "tokens per chunk")]
    [InlineData("epic:0", "not a token count")]
    [InlineData("epic:-3", "not a token count")]
    [InlineData("cacheblend:1.5", "not a ratio")]
    [InlineData("cacheblend:abc", "not a ratio")]
    [InlineData("cacheblend:0.1:x", "not a layer")]
    [InlineData("cacheblend:0.1:1:k", "'v'")]
    [InlineData("query:0.1:2:3", "takes a ratio")]
    [InlineData("query:0.1:0", "not a token count")]
    [InlineData("reuse:sideways", "composite")]
    public void Bad_names_say_what_is_wrong(string name, string message)
    {
        var error = Assert.Throws<FormatException>(() => FusionMethod.Parse(name));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void A_list_parses_every_method()
    {
        Assert.Equal(["full", "reuse", "epic:16", "cacheblend:0.15"], FusionMethod.ParseList("full, reuse,epic:16,cacheblend").Select(m => m.Name));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" , ,")]
    public void A_list_that_names_no_method_is_an_error(string names)
    {
        var error = Assert.Throws<FormatException>(() => FusionMethod.ParseList(names));
        Assert.Contains("names no fusion method", error.Message);
    }
}
