using System.Text.Json;

namespace BackupTools.Engine.Models;

/// <summary>
/// The version a backup compares its walk with, its list read as a stream in path order beside the walk (also in path
/// order): a merge join, so the quick check needs no table of the previous version's paths. Its manifest hash is taken
/// on the way, for the "same version, same content" answer without reading it again.
/// </summary>
internal sealed class PreviousVersion : IDisposable
{
    private readonly string _path;
    private readonly ManifestFileReader _reader;
    private readonly ManifestHasher _hash = new();
    private ModelFile? _next;
    private bool _inOrder = true;
    private string? _hashed;

    public PreviousVersion(string path)
    {
        _path = path;
        _reader = ManifestFileReader.Open(path);
        Advance(); // the fields before the list come with the first entry
        RawBytes = _reader.Head.TryGetValue("rawBytes", out var raw) && raw.ValueKind == JsonValueKind.Number ? raw.GetInt64() : null;
    }

    /// <summary>The bytes that version held (what this backup will likely read, for its progress).</summary>
    public long? RawBytes { get; }

    /// <summary>That version's entry for a regular file at <paramref name="relative"/>; asked in ascending path order.</summary>
    public ModelFile? Find(string relative)
    {
        while (_next is not null && string.CompareOrdinal(_next.Path, relative) < 0) Advance();
        return _next is { IsLink: false } f && f.Path == relative ? f : null;
    }

    /// <summary>Reads the rest of the list and checks the frame whole: what Find gave is trusted only once this returns.</summary>
    public void Complete()
    {
        while (_next is not null) Advance();
        Guard(_reader.ReadToEnd);
        _hashed = _inOrder ? _hash.Finish() : null;
    }

    /// <summary>The version's manifest hash, once Complete (null when its list was not in path order, which none this module wrote is).</summary>
    public string? Hash => _hashed;

    private void Advance()
    {
        var last = _next;
        _next = Guard(() => _reader.TryRead(out var f) ? f : null);
        if (_next is null) return;
        if (last is not null && string.CompareOrdinal(last.Path, _next.Path) >= 0) _inOrder = false;
        _hash.Add(_next);
    }

    private T Guard<T>(Func<T> read)
    {
        try { return read(); }
        catch (JsonException e)
        {
            // Its whole frame was checked a moment ago (the versions are listed by decoding each whole): the disk changed under it.
            throw new IOException($"The version manifest '{_path}' could not be read as the backup went ({e.Message}); the disk under the repository returned something else than a moment before. Check it, then back up again.", e);
        }
    }

    private void Guard(Action read) => Guard(() => { read(); return 0; });

    public void Dispose()
    {
        _reader.Dispose();
        _hash.Dispose();
    }
}
