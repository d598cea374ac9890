using System.Security.Cryptography;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Models;

/// <summary>Where a packed blob is: its pack, and its stored bytes' offset and length there. The stored bytes are its
/// content, or one zstd frame of it (Compressed), and either one sealed as a BTENC1 stream when the pack is encrypted.</summary>
public readonly record struct PackedBlob(string Pack, long Offset, long Length, bool Encrypted = false, bool Compressed = false);

/// <summary>
/// Small blobs of a model stored many to a file, as restic and kopia do (<c>models/&lt;name&gt;/packs/</c>): a pack is
/// the blobs' bytes one after another, written once, fsynced once, read back against every blob's SHA-256, and only then
/// given its index (<c>&lt;pack&gt;.idx</c>: each blob's SHA-256, offset and length), itself written to a temporary
/// name, fsynced and renamed. A blob exists only through an index, and an index only after its whole pack is on disk:
/// a crash at any moment leaves at most a pack nobody indexes, which the next run of the model removes. Twenty
/// thousand small files are then a few dozen files to write and fsync, not twenty thousand.
/// </summary>
public sealed class PackStore
{
    /// <summary>Files smaller than this are packed; larger ones stay one blob file each.</summary>
    public const int Threshold = 1 << 20;
    /// <summary>A pack is closed once it holds this many bytes.</summary>
    public const int PackSize = 16 << 20;
    private const int Magic = 0x31504B42; // "BKP1"
    /// <summary>An index whose pack holds each blob as a BTENC1 stream of its own (encryption.local).</summary>
    private const int EncryptedMagic = 0x31454B42; // "BKE1"
    private const long CompressedFlag = 1L << 62;

    private readonly object _load = new();
    private Dictionary<BlobId, PackedBlob>? _index;
    private readonly Func<string, Encryption.EncryptionKey> _keyFor;

    /// <param name="keyFor">The key a BTENC1 header names (encrypted packs); the repository's local keys when omitted.</param>
    public PackStore(string directory, Func<string, Encryption.EncryptionKey>? keyFor = null)
    {
        Directory = directory;
        _keyFor = keyFor ?? Encryption.LocalKeys.Find;
    }

    public string Directory { get; }

    public string PackPath(string pack) => Path.Combine(Directory, pack + ".pack");
    public string IndexPath(string pack) => Path.Combine(Directory, pack + ".idx");

    /// <summary>
    /// Every indexed blob, read once from the index files. Keyed by the blob's 32 bytes, not its hex string, and one
    /// lock around a plain dictionary rather than a node per entry: a model of a million small files has a million
    /// entries here, and this is most of what a backup of it keeps in memory.
    /// </summary>
    private Dictionary<BlobId, PackedBlob> Loaded
    {
        get
        {
            if (_index is { } loaded) return loaded;
            lock (_load)
            {
                if (_index is { } again) return again;
                var index = new Dictionary<BlobId, PackedBlob>();
                if (System.IO.Directory.Exists(Directory))
                {
                    var files = System.IO.Directory.EnumerateFiles(Directory, "*.idx").ToList();
                    var parsed = new List<(BlobId, PackedBlob)>[files.Count];
                    Parallel.For(0, files.Count, i => parsed[i] = ReadIndexIds(files[i]));
                    index.EnsureCapacity(parsed.Sum(p => p.Count));
                    foreach (var list in parsed) foreach (var (id, blob) in list) index.TryAdd(id, blob);
                }
                return _index = index;
            }
        }
    }

    public bool Contains(string sha256) => TryLocate(sha256, out _);

    /// <summary>Where a packed blob is; false when no index names it.</summary>
    public bool TryLocate(string sha256, out PackedBlob blob)
    {
        blob = default;
        if (!BlobId.TryParse(sha256, out var id)) return false;
        var index = Loaded;
        lock (index) return index.TryGetValue(id, out blob);
    }

    /// <summary>Where a packed blob is; FileNotFoundException when no index names it.</summary>
    public PackedBlob Locate(string sha256) => TryLocate(sha256, out var blob) ? blob : throw new FileNotFoundException($"Blob {sha256} is in no pack.");

    /// <summary>The index of one pack: (SHA-256, where) of each blob; empty when it is damaged (its blobs then count as missing).</summary>
    public static IReadOnlyList<(string Sha256, PackedBlob Blob)> ReadIndex(string indexPath) =>
        ReadIndexIds(indexPath).Select(e => (e.Id.ToString(), e.Blob)).ToList();

    private static List<(BlobId Id, PackedBlob Blob)> ReadIndexIds(string indexPath)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(indexPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
        return ParseIndexIds(bytes, Path.GetFileNameWithoutExtension(indexPath));
    }

    /// <summary>An index's bytes (a file here, or an offsite object decrypted); empty when damaged.</summary>
    public static IReadOnlyList<(string Sha256, PackedBlob Blob)> ParseIndex(byte[] bytes, string pack) =>
        ParseIndexIds(bytes, pack).Select(e => (e.Id.ToString(), e.Blob)).ToList();

    private static List<(BlobId Id, PackedBlob Blob)> ParseIndexIds(byte[] bytes, string pack)
    {
        if (bytes.Length < 12) return [];
        var magic = BitConverter.ToInt32(bytes, 0);
        if (magic is not (Magic or EncryptedMagic) || BitConverter.ToInt32(bytes, bytes.Length - 4) != magic) return [];
        var count = BitConverter.ToInt32(bytes, 4);
        if (count < 0 || bytes.Length != 12 + (long)count * 48) return [];
        var list = new List<(BlobId, PackedBlob)>(count);
        for (var i = 0; i < count; i++)
        {
            var at = 8 + i * 48;
            var (offset, stored) = (BitConverter.ToInt64(bytes, at + 32), BitConverter.ToInt64(bytes, at + 40));
            // The length's bit 62 says the blob is compressed (a length never reaches it; indexes written before it read the same).
            var (length, compressed) = (stored & ~CompressedFlag, (stored & CompressedFlag) != 0);
            if (offset < 0 || length < 0 || length > int.MaxValue || offset > long.MaxValue - length) return []; // damaged: its blobs count as missing
            list.Add((BlobId.From(bytes.AsSpan(at, 32)), new PackedBlob(pack, offset, length, magic == EncryptedMagic, compressed)));
        }
        return list;
    }

    /// <summary>A blob's bytes, read from its pack.</summary>
    public Stream Open(string sha256)
    {
        var blob = Locate(sha256);
        FileStream file;
        try { file = new FileStream(PackPath(blob.Pack), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.RandomAccess); }
        catch (FileNotFoundException)
        {
            // Retention repacked it meanwhile (the new pack was indexed before the old one went): read the indexes again.
            Reload();
            blob = Locate(sha256);
            file = new FileStream(PackPath(blob.Pack), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.RandomAccess);
        }
        return Plain(new RangeStream(file, blob.Offset, blob.Length), blob);
    }

    /// <summary>A blob's content from its stored bytes: decrypted (and authenticated) when its pack is encrypted, then decompressed.</summary>
    internal Stream Plain(Stream stored, PackedBlob blob)
    {
        Stream opened;
        try { opened = blob.Encrypted ? Encryption.DecryptingStream.WithKeyFrom(stored, _keyFor) : stored; }
        catch
        {
            stored.Dispose(); // a damaged header or a missing key: the pack's handle is closed here, not left to the finalizer
            throw;
        }
        // leaveOpen false: disposing the blob's stream closes its pack (200,000 restored blobs are 200,000 handles otherwise).
        return blob.Compressed ? new DamageNamingStream(new ZstdSharp.DecompressionStream(opened, leaveOpen: false), blob) : opened;
    }

    /// <summary>Forgets the indexes read, so the next lookup reads them again.</summary>
    public void Reload()
    {
        lock (_load) _index = null;
    }

    /// <summary>A blob's stored bytes at a given place (one pack's, when the blob is in two during a repack); as stored, never decrypted.</summary>
    public Stream OpenPack(PackedBlob blob) =>
        new RangeStream(new FileStream(PackPath(blob.Pack), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.RandomAccess),
            blob.Offset, blob.Length);

    /// <summary>Whether a packed blob still hashes to its name.</summary>
    public async Task<bool> VerifyAsync(string sha256, CancellationToken ct)
    {
        if (!Contains(sha256)) return false;
        try
        {
            await using var s = Open(sha256);
            return Convert.ToHexString(await SHA256.HashDataAsync(s, ct)).ToLowerInvariant() == sha256;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException or ZstdSharp.ZstdException) { return false; }
    }

    /// <summary>Starts a pack; blobs added to it are indexed only once it is finished whole.</summary>
    /// <param name="encrypt">encryption.local: each blob added is sealed as a BTENC1 stream under this key.</param>
    /// <param name="encrypted">The pack holds sealed blobs (a repack of an encrypted pack copies them as they are).</param>
    public PackWriter Begin(Encryption.EncryptionKey? encrypt = null, bool encrypted = false)
    {
        var temp = Path.Combine(Directory, "tmp");
        FileModes.CreatePrivateDirectory(Directory);
        FileModes.CreatePrivateDirectory(temp);
        return new PackWriter(this, Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant(), encrypt, encrypted || encrypt is not null);
    }

    /// <summary>
    /// Packs left by a crash: temporary files, and packs without their index (written, never indexed). Only while no
    /// writer of this model runs (the caller holds the model's lock).
    /// </summary>
    public void RemoveLeftovers()
    {
        var temp = Path.Combine(Directory, "tmp");
        if (System.IO.Directory.Exists(temp)) System.IO.Directory.Delete(temp, recursive: true);
        if (!System.IO.Directory.Exists(Directory)) return;
        foreach (var pack in System.IO.Directory.EnumerateFiles(Directory, "*.pack").Where(p => !File.Exists(Path.ChangeExtension(p, ".idx"))).ToList())
            File.Delete(pack);
    }

    /// <summary>Records a finished pack's blobs (after its index is on disk).</summary>
    internal void Indexed(IEnumerable<(string Sha256, PackedBlob Blob)> blobs)
    {
        var index = Loaded;
        lock (index) foreach (var (sha, blob) in blobs) if (BlobId.TryParse(sha, out var id)) index.TryAdd(id, blob);
    }

    /// <summary>Removes a pack: its index first (its blobs are then gone), then its bytes.</summary>
    public void Remove(string pack)
    {
        File.Delete(IndexPath(pack));
        File.Delete(PackPath(pack));
        if (_index is { } index)
            lock (index) foreach (var id in index.Where(e => e.Value.Pack == pack).Select(e => e.Key).ToList()) index.Remove(id);
    }

    /// <summary>Each pack and its blobs, as the index files say.</summary>
    public IReadOnlyList<(string Pack, IReadOnlyList<(string Sha256, PackedBlob Blob)> Blobs, long Bytes)> Packs() =>
        System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.EnumerateFiles(Directory, "*.idx").Select(f => (Path.GetFileNameWithoutExtension(f), ReadIndex(f),
                File.Exists(PackPath(Path.GetFileNameWithoutExtension(f))) ? new FileInfo(PackPath(Path.GetFileNameWithoutExtension(f))).Length : 0L)).ToList()
            : [];

    internal static byte[] IndexBytes(IReadOnlyList<(string Sha256, PackedBlob Blob)> blobs, bool encrypted)
    {
        var bytes = new byte[12 + blobs.Count * 48];
        var magic = encrypted ? EncryptedMagic : Magic;
        BitConverter.TryWriteBytes(bytes.AsSpan(0), magic);
        BitConverter.TryWriteBytes(bytes.AsSpan(4), blobs.Count);
        for (var i = 0; i < blobs.Count; i++)
        {
            var at = 8 + i * 48;
            Convert.FromHexString(blobs[i].Sha256).CopyTo(bytes, at);
            BitConverter.TryWriteBytes(bytes.AsSpan(at + 32), blobs[i].Blob.Offset);
            BitConverter.TryWriteBytes(bytes.AsSpan(at + 40), blobs[i].Blob.Length | (blobs[i].Blob.Compressed ? CompressedFlag : 0));
        }
        BitConverter.TryWriteBytes(bytes.AsSpan(bytes.Length - 4), magic);
        return bytes;
    }

    internal string TempPath(string name) => Path.Combine(Directory, "tmp", name);

    internal void Publish(string pack, string tempPack, IReadOnlyList<(string Sha256, PackedBlob Blob)> blobs, bool encrypted)
    {
        File.Move(tempPack, PackPath(pack));
        var tempIndex = TempPath(pack + ".idx");
        FileModes.WriteDurably(tempIndex, IndexBytes(blobs, encrypted));
        File.Move(tempIndex, IndexPath(pack));
        SafeDirectory.SyncPath(Directory);
        Indexed(blobs);
    }
}

/// <summary>One pack being written: blobs appended, then finished whole (fsync, read back, index) or thrown away.</summary>
public sealed class PackWriter : IDisposable
{
    private const int BufferSize = 64 << 10;
    private readonly PackStore _store;
    private readonly string _temp;
    private readonly FileStream _file;
    private readonly List<(string Sha256, PackedBlob Blob)> _blobs = [];

    private readonly Encryption.EncryptionKey? _encrypt;
    private readonly bool _encrypted;

    internal PackWriter(PackStore store, string id, Encryption.EncryptionKey? encrypt, bool encrypted)
    {
        _store = store;
        Id = id;
        _encrypt = encrypt;
        _encrypted = encrypted;
        _temp = store.TempPath(id + ".pack");
        // 64 KB buffers, not the 1 MB default: a buffer that size is a large-object-heap array, freed only by a full GC,
        // and a backup of 3 GB of small files writes 200 packs (two such buffers each were 400 MB of peak memory).
        _file = FileModes.CreatePrivateFile(_temp, bufferSize: BufferSize);
    }

    public string Id { get; }
    private long _length;
    /// <summary>Bytes written so far (kept once the pack is finished).</summary>
    public long Length => _length;

    /// <summary>
    /// Adds a blob's content: compressed when that pays (training data is mostly JSONL and CSV text, which restic
    /// compresses too), then sealed when the pack is encrypted. Whether it pays is tried on its first 4 KB, so random or
    /// already compressed content (parquet, images) costs little.
    /// </summary>
    public Task AddAsync(string sha256, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        var (body, compressed) = BlobCompression.Compress(content);
        if (_encrypt is null) return AddStoredAsync(sha256, body, compressed, ct);
        using var sealedBytes = new MemoryStream(body.Length + 256);
        // Chunks no bigger than the blob: the default 1 MB would allocate megabytes per small blob, here and on every read.
        using (var sealing = new Encryption.EncryptingStream(sealedBytes, _encrypt, Math.Clamp(body.Length, 1, Encryption.EncryptedFormat.DefaultChunkSize), leaveOpen: true))
        {
            sealing.Write(body.Span);
            sealing.FlushFinalBlock();
        }
        return AddStoredAsync(sha256, sealedBytes.GetBuffer().AsMemory(0, (int)sealedBytes.Length), compressed, ct);
    }

    /// <summary>Adds a blob's bytes as they are stored (a repack: sealed ones stay sealed, in a pack of their kind).</summary>
    public async Task AddStoredAsync(string sha256, ReadOnlyMemory<byte> stored, bool compressed, CancellationToken ct)
    {
        var offset = _length;
        await _file.WriteAsync(stored, ct);
        _length += stored.Length;
        _blobs.Add((sha256, new PackedBlob(Id, offset, stored.Length, _encrypted, compressed)));
    }

    /// <summary>Flushes to disk, reads every blob back against its SHA-256, then indexes the pack.</summary>
    public async Task FinishAsync(CancellationToken ct)
    {
        if (_blobs.Count == 0)
        {
            Dispose();
            return;
        }
        await _file.FlushAsync(ct);
        _file.Flush(flushToDisk: true);
        await _file.DisposeAsync();
        // Read back as a reader will: every blob from the file on disk, against its SHA-256.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)_blobs.Max(b => b.Blob.Length));
        try
        {
        await using (var back = new FileStream(_temp, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.SequentialScan))
            foreach (var (sha, blob) in _blobs)
            {
                back.Position = blob.Offset;
                await back.ReadExactlyAsync(buffer.AsMemory(0, (int)blob.Length), ct);
                string read;
                if (!_encrypted && !blob.Compressed) read = Convert.ToHexString(SHA256.HashData(buffer.AsSpan(0, (int)blob.Length))).ToLowerInvariant();
                else
                {
                    await using var plain = _store.Plain(new MemoryStream(buffer, 0, (int)blob.Length, writable: false), blob);
                    read = Convert.ToHexString(await SHA256.HashDataAsync(plain, ct)).ToLowerInvariant();
                }
                if (read != sha)
                    throw new BackupVerificationException($"Pack {Id} reads back blob {sha} as {read}; the storage under the repository returns different bytes. Check the disk.");
            }
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
        _store.Publish(Id, _temp, _blobs, _encrypted);
        _blobs.Clear(); // indexed now: the backup keeps every writer until it ends, not every writer's list
        _blobs.TrimExcess();
    }

    /// <summary>Throws the unfinished pack away (its blobs were never indexed).</summary>
    public void Dispose()
    {
        _file.Dispose();
        try { File.Delete(_temp); } catch (IOException) { }
    }
}

/// <summary>A window of a file: <paramref name="length"/> bytes from <paramref name="offset"/> (a range read of a pack).</summary>
internal sealed class RangeStream(FileStream file, long offset, long length) : ReadOnlyStream
{
    private long _read;

    public override int Read(Span<byte> buffer)
    {
        var want = (int)Math.Min(buffer.Length, length - _read);
        var n = want == 0 ? 0 : RandomAccess.Read(file.SafeFileHandle, buffer[..want], offset + _read);
        return Advance(want, n);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var want = (int)Math.Min(buffer.Length, length - _read);
        var n = want == 0 ? 0 : await RandomAccess.ReadAsync(file.SafeFileHandle, buffer[..want], offset + _read, cancellationToken);
        return Advance(want, n);
    }

    /// <summary>A pack that ends before the blob does is damaged: an error, never a blob that reads short.</summary>
    private int Advance(int want, int n)
    {
        if (want > 0 && n == 0)
            throw new EndOfStreamException($"'{file.Name}' ends at {offset + _read} bytes, inside a blob that runs to {offset + length}: the pack is damaged.");
        _read += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) file.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>A compressed blob whose bytes do not decode is reported as damaged, naming its pack and what to run.</summary>
internal sealed class DamageNamingStream(Stream inner, PackedBlob blob) : ReadOnlyStream
{
    public override int Read(Span<byte> buffer)
    {
        try { return inner.Read(buffer); }
        catch (ZstdSharp.ZstdException e) { throw Damaged(e); }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try { return await inner.ReadAsync(buffer, cancellationToken); }
        catch (ZstdSharp.ZstdException e) { throw Damaged(e); }
    }

    private InvalidDataException Damaged(Exception e) =>
        new($"A compressed blob in pack {blob.Pack} (at {blob.Offset}, {blob.Length} bytes) does not decode ({e.Message}): the pack is damaged. Run Test-AiModelBackup to see which versions need it.", e);

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
