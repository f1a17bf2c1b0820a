using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace ChunkKv.Server.Tenancy;

/// <summary>One API key, stored as the SHA-256 of the key (hex), bound to a tenant.</summary>
public sealed class ApiKey
{
    public string Tenant { get; set; } = "";
    public string Sha256 { get; set; } = "";
}

/// <summary>The API keys (configuration: <c>ApiKeys:0:Tenant</c>, <c>ApiKeys:0:Sha256</c>; environment <c>CHUNKKV_APIKEYS__0__TENANT</c>, ...).</summary>
public sealed class TenancyOptions
{
    public List<ApiKey> ApiKeys { get; set; } = [];

    /// <summary>The hex SHA-256 of a key, as <see cref="ApiKey.Sha256"/> stores it (<c>chunkkv hash-key</c> prints it too).</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}

/// <summary>
/// The tenant a request acts for, and its names. A tenant sees only its own collections: they are
/// stored as <c>tenant~name</c> (<c>~</c> cannot occur in a collection name), the single tenant of a
/// server without keys under the plain name. Chunk caches hold no text and are keyed by content, so
/// tenants ingesting the same text share them; documents, chunk texts and metadata they never share.
/// </summary>
public sealed record Tenant(string Name)
{
    public const string OnlyOne = "";
    private const char Separator = '~';

    public string Stored(string collection) => Name == OnlyOne ? collection : $"{Name}{Separator}{collection}";

    /// <summary>The collection's name as this tenant knows it, or null when it is not this tenant's.</summary>
    public string? Visible(string stored)
    {
        if (Name == OnlyOne)
        {
            return stored.Contains(Separator, StringComparison.Ordinal) ? null : stored;
        }
        var prefix = Name + Separator;
        return stored.StartsWith(prefix, StringComparison.Ordinal) ? stored[prefix.Length..] : null;
    }
}

/// <summary>
/// Finds the request's tenant: with keys configured, from <c>Authorization: Bearer KEY</c> (401
/// without a known key); without keys, the single tenant, for loopback callers only (403 otherwise).
/// </summary>
public sealed class TenantFilter(IOptions<TenancyOptions> options) : IEndpointFilter
{
    private readonly Dictionary<string, string> tenantsByHash = options.Value.ApiKeys
        .Where(k => k.Sha256.Length > 0)
        .ToDictionary(k => k.Sha256.ToLowerInvariant(), k => k.Tenant, StringComparer.Ordinal);

    public bool HasKeys => tenantsByHash.Count > 0;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (!HasKeys)
        {
            var remote = http.Connection.RemoteIpAddress;
            if (remote is not null && !IPAddress.IsLoopback(remote))
            {
                return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Loopback only",
                    detail: "this server has no API keys configured and serves loopback callers only");
            }
            http.Items[typeof(Tenant)] = new Tenant(Tenant.OnlyOne);
            return await next(context);
        }
        var header = http.Request.Headers.Authorization.ToString();
        var key = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : "";
        var hash = TenancyOptions.Hash(key);
        // Compared in constant time against every configured hash: timing says nothing about the keys.
        string? tenant = null;
        foreach (var (known, name) in tenantsByHash)
        {
            if (CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(known), Encoding.ASCII.GetBytes(hash)))
            {
                tenant = name;
            }
        }
        if (key.Length == 0 || tenant is null)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
                detail: key.Length == 0 ? "send an API key: Authorization: Bearer <key>" : "the API key is not known");
        }
        http.Items[typeof(Tenant)] = new Tenant(tenant);
        return await next(context);
    }
}

public static class TenantExtensions
{
    /// <summary>The request's tenant (set by <see cref="TenantFilter"/>).</summary>
    public static Tenant Tenant(this HttpContext http) =>
        http.Items[typeof(Tenant)] as Tenant ?? throw new InvalidOperationException("no tenant: the endpoint is outside the tenant filter");
}
