namespace ChunkKv.Server.Storage;

/// <summary>
/// Where the server's external stores are. Both are optional: without PostgreSQL the embedded
/// index serves retrieval; without Redis the shared cache tier is off.
/// </summary>
public sealed class StorageOptions
{
    /// <summary>Npgsql connection string (environment: CHUNKKV_POSTGRES).</summary>
    public string? Postgres { get; set; }

    /// <summary>StackExchange.Redis configuration, e.g. <c>127.0.0.1:6379</c> (environment: CHUNKKV_REDIS).</summary>
    public string? Redis { get; set; }

    /// <summary>Apply the SQL migrations at start-up (environment: CHUNKKV_MIGRATE_ON_START).</summary>
    public bool MigrateOnStart { get; set; } = true;
}
