using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace ChunkKv.Retrieval.Migrations;

/// <summary>One ordered SQL file, named <c>NNNN_description.sql</c>.</summary>
public sealed partial record Migration(int Version, string Name, string Sql)
{
    /// <summary>SHA-256 of the SQL text, recorded when applied so a later edit of an applied file is caught.</summary>
    public string Checksum { get; } = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Sql)));

    /// <summary>The migrations shipped inside this assembly (the repository's migrations/ folder), in order.</summary>
    public static IReadOnlyList<Migration> Embedded()
    {
        var assembly = typeof(Migration).Assembly;
        var migrations = assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("migrations/", StringComparison.Ordinal))
            .Select(n => Parse(n["migrations/".Length..], ReadResource(assembly, n)));
        return Ordered(migrations);
    }

    /// <summary>Builds a migration from its file name and text; the name must start with a version number.</summary>
    public static Migration Parse(string fileName, string sql)
    {
        var match = FileNamePattern().Match(fileName);
        if (!match.Success)
        {
            throw new MigrationException($"migration file '{fileName}' is not named NNNN_description.sql");
        }
        return new Migration(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
            Path.GetFileNameWithoutExtension(fileName), sql);
    }

    /// <summary>Sorts by version and refuses two files with the same number.</summary>
    public static IReadOnlyList<Migration> Ordered(IEnumerable<Migration> migrations)
    {
        var ordered = migrations.OrderBy(m => m.Version).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            if (ordered[i].Version == ordered[i - 1].Version)
            {
                throw new MigrationException(
                    $"migrations '{ordered[i - 1].Name}' and '{ordered[i].Name}' share version {ordered[i].Version}");
            }
        }
        return ordered;
    }

    private static string ReadResource(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"^(\d+)_[A-Za-z0-9_\-]+\.sql$")]
    private static partial Regex FileNamePattern();
}

/// <summary>A migration could not be read or applied; the database is left as it was before that file.</summary>
public sealed class MigrationException(string message, Exception? inner = null) : Exception(message, inner);
