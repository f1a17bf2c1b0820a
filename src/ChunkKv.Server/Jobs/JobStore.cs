using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkKv.Server.Jobs;

/// <summary>
/// The background jobs (ingestions, calibrations) of this server process, in memory and as one JSON file each in a
/// folder of its data directory (written to a temporary file and renamed, so a crash never leaves
/// half a job). Jobs belong to the process that accepted them: servers sharing PostgreSQL and
/// Redis each run their own.
/// </summary>
public sealed class JobStore
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Finished jobs are forgotten this long after they ended (at start-up).</summary>
    public static readonly TimeSpan KeepFinished = TimeSpan.FromDays(7);

    private readonly string _folder;
    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly Lock _write = new();

    public JobStore(string folder, ILogger<JobStore> logger)
    {
        _folder = folder;
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.EnumerateFiles(folder, "*.json"))
        {
            try
            {
                var job = JsonSerializer.Deserialize<Job>(File.ReadAllText(file), Json);
                if (job is null)
                {
                    continue;
                }
                if (job.Finished && job.UpdatedAt < DateTimeOffset.UtcNow - KeepFinished)
                {
                    File.Delete(file);
                    continue;
                }
                _jobs[job.Id] = job;
            }
            catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
            {
                // A job file that does not read is set aside, not lost and not fatal to the server.
                logger.LogWarning("job file {File} does not read ({Error}); renamed to .bad", Path.GetFileName(file), e.Message);
                File.Move(file, file + ".bad", overwrite: true);
            }
        }
    }

    public Job? Find(string id) => _jobs.GetValueOrDefault(id);

    /// <summary>Jobs not ended, oldest first: queued ones and those a stopped server left running.</summary>
    public IReadOnlyList<Job> Unfinished() => [.. _jobs.Values.Where(j => !j.Finished).OrderBy(j => j.CreatedAt)];

    public IReadOnlyList<Job> OfTenant(string tenant) =>
        [.. _jobs.Values.Where(j => j.Tenant == tenant).OrderByDescending(j => j.CreatedAt)];

    public void Add(Job job)
    {
        Save(job);
        _jobs[job.Id] = job;
    }

    /// <summary>Writes the job's current state durably; the caller has changed it.</summary>
    public void Save(Job job)
    {
        lock (_write)
        {
            job.UpdatedAt = DateTimeOffset.UtcNow;
            var path = Path.Combine(_folder, job.Id + ".json");
            var temporary = path + ".tmp";
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            {
                JsonSerializer.Serialize(stream, job, Json);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
    }
}
