using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;

namespace BackupTools.Engine.Models;

/// <summary>
/// Reads a version manifest one file entry at a time, as it is decoded: the top-level fields before the list are kept
/// (they are few and small), each entry of the list is parsed and handed over, and nothing of the list is kept. A
/// version of a million training files is about 150 MB of JSON; the backup reads the previous version's list this way
/// beside its own walk, and never holds either whole. Compressed (one zstd frame) or plain, as ModelJson.Parse reads.
/// </summary>
internal sealed class ManifestFileReader : IDisposable
{
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle? _owned;
    private readonly Stream _source;
    private byte[] _buffer = new byte[1 << 16];
    private int _start, _end;
    private bool _eof;
    private JsonReaderState _state;
    private Phase _phase;
    private readonly Dictionary<string, JsonElement> _head = new(StringComparer.Ordinal);

    private enum Phase { BeforeObject, TopLevel, InFiles, Done }
    private enum Outcome { File, End, More }

    private ManifestFileReader(Microsoft.Win32.SafeHandles.SafeFileHandle? owned, Stream source)
    {
        _owned = owned;
        _source = source;
    }

    /// <summary>Opens the manifest at <paramref name="path"/>; nothing is parsed yet.</summary>
    public static ManifestFileReader Open(string path)
    {
        var handle = OpenHandle(path);
        try { return Open(handle, owns: true); }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>A handle to read a manifest through for as long as it is wanted, even once retention removes its name.</summary>
    public static Microsoft.Win32.SafeHandles.SafeFileHandle OpenHandle(string path) =>
        File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

    /// <summary>Reads the manifest open at <paramref name="handle"/> from its start (each reader at its own position).</summary>
    public static ManifestFileReader Open(Microsoft.Win32.SafeHandles.SafeFileHandle handle, bool owns)
    {
        Span<byte> magic = stackalloc byte[4];
        var got = RandomAccess.Read(handle, magic, 0);
        Stream file = new HandleStream(handle);
        return new ManifestFileReader(owns ? handle : null,
            ModelJson.IsCompressed(magic[..got]) ? new ZstdSharp.DecompressionStream(file, leaveOpen: false) : new BufferedStream(file, 1 << 16));
    }

    /// <summary>The top-level fields read so far (all of them once the first entry is read: the list is written last).</summary>
    public IReadOnlyDictionary<string, JsonElement> Head => _head;

    /// <summary>The next entry of the file list, in the order written; false at its end. A damaged manifest is a JsonException.</summary>
    public bool TryRead([NotNullWhen(true)] out ModelFile? file)
    {
        while (true)
        {
            switch (Step(out file))
            {
                case Outcome.File when file is not null: return true;
                case Outcome.End: return false;
                default: Fill(); break;
            }
        }
    }

    /// <summary>
    /// Reads (and discards) the rest of the manifest, so a compressed one's checksum is checked: an entry handed over
    /// before the end is trusted only once this returns. A damaged frame is a JsonException.
    /// </summary>
    public void ReadToEnd()
    {
        while (TryRead(out _)) { }
        var rest = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 16);
        try { while (Decoded(rest) > 0) { } }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(rest); }
    }

    private int Decoded(byte[] into, int offset = 0)
    {
        try { return _source.Read(into, offset, into.Length - offset); }
        catch (Exception e) when (e is ZstdSharp.ZstdException or InvalidDataException or EndOfStreamException)
        {
            throw new JsonException("The version manifest's compressed frame is damaged: " + e.Message, e);
        }
    }

    private void Fill()
    {
        if (_eof) throw new JsonException("The version manifest is cut short.");
        var kept = _end - _start;
        if (kept == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2); // one entry longer than the buffer (a very long path)
        Buffer.BlockCopy(_buffer, _start, _buffer, 0, kept);
        (_start, _end) = (0, kept);
        var n = Decoded(_buffer, _end);
        if (n == 0) _eof = true;
        _end += n;
    }

    /// <summary>
    /// As far as the bytes at hand go: a token is consumed (its position and the reader's state kept) only once it is
    /// whole, so running out of bytes anywhere means reading more and starting again from the last whole token.
    /// </summary>
    private Outcome Step(out ModelFile? file)
    {
        file = null;
        var origin = _start;
        var reader = new Utf8JsonReader(_buffer.AsSpan(_start, _end - _start), _eof, _state);
        void Commit(ref Utf8JsonReader r)
        {
            _start = origin + (int)r.BytesConsumed;
            _state = r.CurrentState;
        }
        while (true)
        {
            switch (_phase)
            {
                case Phase.Done:
                    return Outcome.End;
                case Phase.BeforeObject:
                    if (!reader.Read()) return Outcome.More;
                    if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("A version manifest is a JSON object.");
                    _phase = Phase.TopLevel;
                    Commit(ref reader);
                    break;
                case Phase.TopLevel:
                {
                    if (!reader.Read()) return Outcome.More;
                    if (reader.TokenType == JsonTokenType.EndObject)
                    {
                        _phase = Phase.Done;
                        Commit(ref reader);
                        return Outcome.End;
                    }
                    var name = reader.GetString()!;
                    if (!reader.Read()) return Outcome.More;
                    if (name == "files")
                    {
                        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("A version manifest's files are a JSON array.");
                        _phase = Phase.InFiles;
                        Commit(ref reader);
                        break;
                    }
                    var probe = reader;
                    if (!probe.TrySkip()) return Outcome.More;
                    _head[name] = JsonElement.ParseValue(ref reader);
                    Commit(ref reader);
                    break;
                }
                case Phase.InFiles:
                {
                    if (!reader.Read()) return Outcome.More;
                    if (reader.TokenType == JsonTokenType.EndArray)
                    {
                        _phase = Phase.TopLevel; // fields after the list (none in what this release writes) are read as fields
                        Commit(ref reader);
                        break;
                    }
                    var probe = reader;
                    if (!probe.TrySkip()) return Outcome.More;
                    file = JsonSerializer.Deserialize(ref reader, ModelJson.Default.ModelFile)
                        ?? throw new JsonException("A version manifest's file entry is null.");
                    Commit(ref reader);
                    return Outcome.File;
                }
            }
        }
    }

    public void Dispose()
    {
        _source.Dispose();
        _owned?.Dispose();
    }
}

/// <summary>A file read from its start through a handle it does not own, at a position of its own (pread).</summary>
internal sealed class HandleStream(Microsoft.Win32.SafeHandles.SafeFileHandle handle) : Repository.ReadOnlyStream
{
    private long _position;

    public override int Read(Span<byte> buffer)
    {
        var n = RandomAccess.Read(handle, buffer, _position);
        _position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await RandomAccess.ReadAsync(handle, buffer, _position, cancellationToken);
        _position += n;
        return n;
    }
}

/// <summary>
/// A version's file list read from its manifest on each enumeration, never held: what a backup of a million files
/// returns, and what the versions of a model are read as. The manifest is read through a handle opened when the list
/// was made, so a version retention removes meanwhile still reads as it was. Indexing (rare) reads the list once and
/// keeps it.
/// </summary>
internal sealed class ManifestFileList(Microsoft.Win32.SafeHandles.SafeFileHandle handle, int count) : IReadOnlyList<ModelFile>
{
    private IReadOnlyList<ModelFile>? _loaded;

    public ManifestFileList(string path, int count) : this(ManifestFileReader.OpenHandle(path), count) { }

    public int Count => count;

    public ModelFile this[int index] => (_loaded ??= this.ToList())[index];

    public IEnumerator<ModelFile> GetEnumerator()
    {
        if (_loaded is not null)
        {
            foreach (var f in _loaded) yield return f;
            yield break;
        }
        using var reader = ManifestFileReader.Open(handle, owns: false);
        while (reader.TryRead(out var file)) yield return file;
        reader.ReadToEnd();
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
