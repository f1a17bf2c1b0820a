using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ChunkKv.Evaluation;

namespace ChunkKv.Server.Calibration;

/// <summary>
/// Each collection's calibrations, one per model (by its fingerprint, which names the weights and
/// their type), as one JSON file per collection in a folder of the data directory (written to a
/// temporary file and renamed: a crash never leaves half a record). Like jobs, they belong to this
/// server's data directory; servers sharing PostgreSQL calibrate on their own.
/// </summary>
public sealed class CalibrationStore
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    private readonly string _folder;
    private readonly ILogger<CalibrationStore> _logger;
    private readonly ConcurrentDictionary<string, StoredCalibrations> _loaded = new(StringComparer.Ordinal);
    private readonly Lock _write = new();

    public CalibrationStore(string folder, ILogger<CalibrationStore> logger)
    {
        _folder = folder;
        _logger = logger;
        Directory.CreateDirectory(folder);
    }

    /// <summary>The collection's calibration for this model; null when it has none.</summary>
    public CalibrationResult? Find(string storedCollection, string modelFingerprint) =>
        Load(storedCollection).ByModel.GetValueOrDefault(modelFingerprint);

    public void Save(string storedCollection, CalibrationResult calibration)
    {
        lock (_write)
        {
            var stored = Load(storedCollection);
            var updated = stored with { ByModel = new Dictionary<string, CalibrationResult>(stored.ByModel) { [calibration.ModelFingerprint] = calibration } };
            var path = PathOf(storedCollection);
            var temporary = path + ".tmp";
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            {
                JsonSerializer.Serialize(stream, updated, Json);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
            _loaded[storedCollection] = updated;
        }
    }

    /// <summary>Forgets the collection's calibrations (it was deleted: one made again by that name starts uncalibrated).</summary>
    public void Remove(string storedCollection)
    {
        lock (_write)
        {
            File.Delete(PathOf(storedCollection));
            _loaded.TryRemove(storedCollection, out _);
        }
    }

    private StoredCalibrations Load(string storedCollection) => _loaded.GetOrAdd(storedCollection, name =>
    {
        var path = PathOf(name);
        if (!File.Exists(path))
        {
            return new StoredCalibrations(name, new Dictionary<string, CalibrationResult>());
        }
        try
        {
            return JsonSerializer.Deserialize<StoredCalibrations>(File.ReadAllText(path), Json)
                ?? throw new JsonException("the file holds null");
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            // A record that does not read is set aside: the collection is uncalibrated, not broken.
            _logger.LogWarning("calibration file {File} does not read ({Error}); renamed to .bad", Path.GetFileName(path), e.Message);
            File.Move(path, path + ".bad", overwrite: true);
            return new StoredCalibrations(name, new Dictionary<string, CalibrationResult>());
        }
    });

    /// <summary>A hash of the name: any stored name (a tenant's prefix included) makes a short, safe file name.</summary>
    private string PathOf(string storedCollection) =>
        Path.Combine(_folder, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(storedCollection)))[..32] + ".json");

    private sealed record StoredCalibrations(string Collection, IReadOnlyDictionary<string, CalibrationResult> ByModel);
}
