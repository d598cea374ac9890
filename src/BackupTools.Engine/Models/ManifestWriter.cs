using System.Text.Json;

namespace BackupTools.Engine.Models;

/// <summary>
/// A version manifest written as the backup's walk goes: each file's entry goes to a temporary spool as it is done (in
/// path order, hashed as it goes), and only at the end, when the fields that come before the list are known (the version
/// a content hash names, the byte counts), is the manifest written: those fields, then the spool as its file list, in
/// one zstd frame. The list is never in memory; the spool is plain JSON in the blob store's tmp/, which the next run of
/// the model removes if this one is killed.
/// </summary>
internal sealed class ManifestWriter : IDisposable
{
    private readonly string _spoolPath;
    private readonly FileStream _spool;
    private readonly Utf8JsonWriter _json;
    private readonly ManifestHasher _hash = new();
    private string? _last;

    public ManifestWriter(string spoolPath)
    {
        _spoolPath = spoolPath;
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.None, BufferSize = 1 << 16 };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = Repository.FileModes.PrivateFile;
        _spool = new FileStream(spoolPath, options); // read back at the end: written and read here only
        // One writer over every entry, inside an array it opens (and the manifest closes): it writes the commas.
        _json = new Utf8JsonWriter(_spool);
        _json.WriteStartArray();
    }

    public int Count { get; private set; }

    /// <summary>Adds the next file; the list must come in ordinal path order (the manifest hash is defined over that order).</summary>
    public void Add(ModelFile file)
    {
        if (_last is not null && string.CompareOrdinal(_last, file.Path) >= 0)
            throw new InvalidOperationException($"The version's files came out of order or twice ('{_last}', then '{file.Path}'); nothing was written.");
        _last = file.Path;
        JsonSerializer.Serialize(_json, file, ModelJson.Default.ModelFile);
        if (_json.BytesPending > 1 << 16) _json.Flush();
        _hash.Add(file);
        Count++;
    }

    /// <summary>The manifest hash of every file added (call once, after the last).</summary>
    public string Hash => _final ??= _hash.Finish();
    private string? _final;

    /// <summary>
    /// Writes the manifest to a new file at <paramref name="path"/>: <paramref name="head"/>'s fields (its Files empty)
    /// and then every file added, as ModelJson.WriteDurably would have serialized the whole, and flushes it to disk.
    /// </summary>
    public void WriteManifest(string path, ModelManifest head)
    {
        _json.Flush();
        _spool.Flush();
        // The head serialized with an empty list ends in "[]}" (the list is the last property); the spool goes between the brackets.
        var headBytes = JsonSerializer.SerializeToUtf8Bytes((head with { Files = [] }).WithKnownHash(Hash), ModelJson.Default.ModelManifest);
        if (headBytes.Length < 3 || !headBytes.AsSpan(headBytes.Length - 3).SequenceEqual("[]}"u8))
            throw new InvalidOperationException("A version manifest's file list is not its last field.");
        using var file = Repository.FileModes.CreatePrivateFile(path, FileMode.CreateNew, bufferSize: 0);
        using (var zstd = new ZstdSharp.CompressionStream(file, ModelJson.CompressionLevel, leaveOpen: true))
        {
            zstd.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_checksumFlag, 1); // as ModelJson.WriteDurably: see there
            zstd.Write(headBytes, 0, headBytes.Length - 3);
            _spool.Position = 0; // "[" and the entries
            _spool.CopyTo(zstd, 1 << 16);
            zstd.Write("]}"u8);
        }
        file.Flush(flushToDisk: true);
    }

    public void Dispose()
    {
        _json.Dispose();
        _spool.Dispose();
        try { File.Delete(_spoolPath); } catch (IOException) { }
    }
}
