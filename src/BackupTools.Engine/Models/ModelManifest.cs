using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BackupTools.Engine.Models;

/// <summary>
/// One file of a model version: where it goes (relative, '/'-separated), its content's blob, mode and time (and the
/// inode it had, for the next backup's quick check; 0 where unknown, as in versions written before it was kept); or a
/// symlink (LinkTarget set, no blob), kept as a link because model caches (Hugging Face's snapshots/ -> ../../blobs/)
/// are built of them, and only when it points inside the model.
/// </summary>
public sealed record ModelFile(string Path, long Size, string Sha256, string Mode, DateTime Modified, bool Config, string? LinkTarget = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] ulong Inode = 0,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Chunks = null)
{
    public bool IsLink => LinkTarget is not null;

    /// <summary>
    /// The blobs that hold the file's content, in order: its chunks (a file of BlobStore.ChunkThreshold or more is stored
    /// as fixed-size chunks, so a checkpoint shard of which a fine-tune changed a tenth stores about a tenth again), or
    /// the one blob named by its SHA-256 (smaller files, and every file a release before chunking stored). Sha256 is always
    /// the whole content's, which a restore checks the written file against.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<string> Blobs => IsLink ? [] : Chunks ?? [Sha256];

    /// <summary>
    /// Whether a link at linkPath pointing at target stays inside the model: relative, and in plain form (any '..' only
    /// at its start, climbing no higher than the model's root), so no '..' ever applies to a component that is itself a
    /// link (which could land anywhere a lexical reading does not see).
    /// </summary>
    public static bool LinkStaysInside(string linkPath, string target)
    {
        if (target.Length == 0 || target.StartsWith('/') || target.Contains('\\') || target.Contains('\0')) return false;
        var parts = target.Split('/');
        var climbs = parts.TakeWhile(p => p == "..").Count();
        if (parts.Skip(climbs).Any(p => p is "" or "." or "..")) return false;
        return climbs <= linkPath.Split('/').Length - 1;
    }
}

/// <summary>
/// <c>models/&lt;name&gt;/versions/&lt;version&gt;.json</c>: a complete, independently verifiable description of one
/// version. Written last, after every blob it names is stored and verified, so its presence is what makes the version exist.
/// </summary>
public sealed record ModelManifest
{
    public const int CurrentSchemaVersion = 1;
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;
    public required string Name { get; init; }
    public required string Version { get; init; }
    /// <summary>Where the version came from: given, config.json, VERSION, or content (the manifest hash).</summary>
    public required string VersionSource { get; init; }
    public required DateTime Created { get; init; }
    public required string SourcePath { get; init; }
    /// <summary>Written last, so a reader wanting only the fields above stops before the list (see ModelBackup.Summaries).</summary>
    [JsonPropertyOrder(1)]
    public required IReadOnlyList<ModelFile> Files
    {
        get => _files;
        init { _files = value; _knownHash = null; } // `m with { Files = some }` (a partial restore) hashes what it has
    }
    private IReadOnlyList<ModelFile> _files = [];
    public long RawBytes { get; init; }
    public long NewBytes { get; init; }
    public double DurationSeconds { get; init; }
    /// <summary>Known without reading the list again where the backup that wrote it hashed it as it went (a million files).</summary>
    private string? _knownHash;

    public string ManifestHash => _knownHash ?? HashOf(Files);

    /// <summary>This manifest with its hash as already computed over exactly its Files (a `with` copy must not keep it: see Files).</summary>
    internal ModelManifest WithKnownHash(string hash)
    {
        var copy = this with { };
        copy._knownHash = hash;
        return copy;
    }

    /// <summary>SHA-256 over every file's path, hash, mode and link target, in path order: equal exactly when the content is.</summary>
    public static string HashOf(IEnumerable<ModelFile> files)
    {
        // Lists come in path order (every writer sorts them), so they are hashed as they are read, never held whole;
        // one that is not (made by hand) is sorted first, as the definition says.
        using var hash = new ManifestHasher();
        string? last = null;
        foreach (var f in files)
        {
            if (last is not null && string.CompareOrdinal(last, f.Path) > 0) return HashOfSorted(files);
            last = f.Path;
            hash.Add(f);
        }
        return hash.Finish();
    }

    private static string HashOfSorted(IEnumerable<ModelFile> files)
    {
        using var hash = new ManifestHasher();
        foreach (var f in files.OrderBy(f => f.Path, StringComparer.Ordinal)) hash.Add(f);
        return hash.Finish();
    }
}

/// <summary>
/// The manifest hash fed one file at a time, in path order: the UTF-8 of "path\0sha\0mode[\0->link]\n" per file, the
/// same bytes a whole string of them made in earlier releases, without that string (200,000 files made it 60 MB).
/// </summary>
internal sealed class ManifestHasher : IDisposable
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private byte[] _buffer = new byte[1024];

    private void Add(string s)
    {
        var n = Encoding.UTF8.GetMaxByteCount(s.Length);
        if (n > _buffer.Length) _buffer = new byte[n];
        _hash.AppendData(_buffer, 0, Encoding.UTF8.GetBytes(s, _buffer));
    }

    public void Add(ModelFile f)
    {
        Add(f.Path); _hash.AppendData("\0"u8); Add(f.Sha256); _hash.AppendData("\0"u8); Add(f.Mode);
        if (f.LinkTarget is not null) { _hash.AppendData("\0->"u8); Add(f.LinkTarget); } // absent for files: older hashes stay equal
        _hash.AppendData("\n"u8);
    }

    public string Finish() => Convert.ToHexString(_hash.GetHashAndReset()).ToLowerInvariant();

    public void Dispose() => _hash.Dispose();
}

// Not indented: a version of 20,000 training files is one line per file either way, and indentation alone made it
// 40 % larger. Written as one zstd frame (ModelJson.Write): the SHA-256s and paths of 200,000 files are 30 MB of JSON
// and 11 MB compressed, and the stored bytes are measured against restic's, which compresses its trees. Read with
// `zstd -dc versions/<version>.json | jq`; versions written plain by earlier releases are read as they are.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ModelManifest))]
[JsonSerializable(typeof(ModelFile))]
internal sealed partial class ModelJson : JsonSerializerContext
{
    internal const int CompressionLevel = 3;

    /// <summary>
    /// A version manifest read once as a stream (its fields, its length, its hash, a compressed one's checksum), its file
    /// list left on disk and read again on each enumeration, through a handle held from now: a model's five versions of
    /// a million files each are five lists of 150 MB of JSON, which no caller needs in memory at once. A list not in
    /// path order (not written by this module) is read whole instead. A damaged manifest is a JsonException.
    /// With <paramref name="known"/> (a backup that has just read or written the same list), only its fields are read.
    /// </summary>
    public static ModelManifest ReadLazily(string path, (int Count, string Hash)? known = null)
    {
        var handle = ManifestFileReader.OpenHandle(path);
        try
        {
            using var reader = ManifestFileReader.Open(handle, owns: false);
            if (known is { } k)
            {
                reader.TryRead(out _); // the fields, which come before the list
                return (FromHead(reader.Head) with { Files = new ManifestFileList(handle, k.Count) }).WithKnownHash(k.Hash);
            }
            using var hash = new ManifestHasher();
            var (count, inOrder) = (0, true);
            string? last = null;
            while (reader.TryRead(out var f))
            {
                if (last is not null && string.CompareOrdinal(last, f.Path) > 0) inOrder = false;
                last = f.Path;
                hash.Add(f);
                count++;
            }
            reader.ReadToEnd();
            if (!inOrder)
            {
                handle.Dispose();
                return Read(path) ?? throw new JsonException("The version manifest is null.");
            }
            return (FromHead(reader.Head) with { Files = new ManifestFileList(handle, count) }).WithKnownHash(hash.Finish());
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>A manifest of the top-level fields a reader kept, with an empty file list.</summary>
    internal static ModelManifest FromHead(IReadOnlyDictionary<string, JsonElement> head)
    {
        var json = new System.Text.Json.Nodes.JsonObject();
        foreach (var (key, value) in head)
            if (key is not ("manifestHash" or "files")) json[key] = System.Text.Json.Nodes.JsonNode.Parse(value.GetRawText());
        json["files"] = new System.Text.Json.Nodes.JsonArray();
        return json.Deserialize(Default.ModelManifest) ?? throw new JsonException("The version manifest is null.");
    }

    public static ModelManifest? Read(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Parse(file);
    }

    /// <summary>
    /// A manifest from a seekable stream of its file (on disk, or an offsite copy decrypted), compressed or plain,
    /// parsed as it is decoded (never the whole JSON in memory twice); a damaged frame is a JsonException, as damaged
    /// JSON is.
    /// </summary>
    public static ModelManifest? Parse(Stream file)
    {
        Span<byte> magic = stackalloc byte[4];
        var got = file.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        file.Position = 0;
        if (!IsCompressed(magic[..got])) return JsonSerializer.Deserialize(file, Default.ModelManifest);
        try
        {
            using var zstd = new ZstdSharp.DecompressionStream(file, leaveOpen: true);
            return JsonSerializer.Deserialize(zstd, Default.ModelManifest);
        }
        catch (Exception e) when (e is ZstdSharp.ZstdException or IOException or InvalidDataException)
        {
            throw new JsonException("The version manifest's compressed frame is damaged: " + e.Message, e);
        }
    }

    /// <summary>
    /// Writes the manifest to a new file, serialized straight into the compressor (never the whole JSON in memory: 30 MB
    /// for 200,000 files), and flushes it to disk.
    /// </summary>
    public static void WriteDurably(string path, ModelManifest manifest)
    {
        using var file = Repository.FileModes.CreatePrivateFile(path, FileMode.CreateNew, bufferSize: 0);
        using (var zstd = new ZstdSharp.CompressionStream(file, CompressionLevel, leaveOpen: true))
        {
            // With its checksum: a flipped hex digit of a SHA-256 would still parse, and retention would then count
            // the real blob as garbage.
            zstd.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
            using var buffered = new BufferedStream(zstd, 1 << 16);
            JsonSerializer.Serialize(buffered, manifest, Default.ModelManifest);
        }
        file.Flush(flushToDisk: true);
    }

    public static bool IsCompressed(ReadOnlySpan<byte> bytes) => bytes.Length >= 4 && BitConverter.ToUInt32(bytes[..4]) == 0xFD2FB528;

    /// <summary>
    /// The start of a manifest's JSON, enough for its top-level fields (which come before its file list); the rest of a
    /// compressed one is decoded unparsed (its checksum checked). A plain one (written by an earlier release) is read whole.
    /// </summary>
    public static (byte[] Json, bool Whole) Head(string path, int length = 64 << 10)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> magic = stackalloc byte[4];
        var got = file.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        file.Position = 0;
        if (!IsCompressed(magic[..got])) return (File.ReadAllBytes(path), true);
        try
        {
            using var zstd = new ZstdSharp.DecompressionStream(file, leaveOpen: true);
            var buffer = new byte[length];
            var n = zstd.ReadAtLeast(buffer, length, throwOnEndOfStream: false);
            // The rest is decoded too, unparsed, so a frame cut short or damaged (its checksum) is found here as it is
            // when the whole manifest is read: status never lists a version a restore would refuse.
            var rest = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
            try { while (zstd.Read(rest, 0, rest.Length) > 0) { } }
            finally { System.Buffers.ArrayPool<byte>.Shared.Return(rest); }
            return (buffer[..n], n < length);
        }
        catch (Exception e) when (e is ZstdSharp.ZstdException or InvalidDataException)
        {
            throw new JsonException("The version manifest's compressed frame is damaged: " + e.Message, e);
        }
    }
}

/// <summary>Reads a version manifest (for callers outside the engine).</summary>
public static class ModelJsonReader
{
    public static ModelManifest? Read(string path)
    {
        try { return ModelJson.Read(path); }
        catch (JsonException) { return null; }
    }
}
