using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Models;

/// <summary>The same version with different content was asked for without -Force.</summary>
public sealed class ModelVersionConflictException(string message) : Exception(message);

public enum ModelBackupStatus { Succeeded, Unchanged }

/// <summary>
/// Backs up a model directory as a version: every file's content goes into the model's blob store (stored once however
/// many versions share it, copied and hashed in one pass, several files at once), then the version's manifest is
/// written. The same version with the same files again copies nothing.
/// </summary>
public static partial class ModelBackup
{
    public const string Engine = "models";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")]
    private static partial Regex VersionPattern();

    private static readonly string[] s_modes = Enumerable.Range(0, 0x1000).Select(m => Convert.ToString(m, 8)).ToArray();

    /// <summary>A mode's octal text, one string per mode (not one per file: 200,000 files were 200,000 copies of "644").</summary>
    private static string ModeText(int permissions) => s_modes[permissions & 0xFFF];

    /// <summary>A config file's stat, following a symlink as reading it does (config paths are named by the policy).</summary>
    private static FileKinds.Status? StatOf(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return null;
        var inode = FileKinds.LStatus(path)?.Inode ?? 0;
        return new FileKinds.Status(FileKinds.Kind.Regular, OperatingSystem.IsWindows() ? 0x1A4 : (int)info.UnixFileMode, info.Length, info.LastWriteTimeUtc, info.LinkTarget is null ? inode : 0);
    }

    public static string ModelDirectory(string repositoryRoot, string name) => Path.Combine(repositoryRoot, Engine, name);
    public static string VersionPath(string repositoryRoot, string name, string version) => Path.Combine(ModelDirectory(repositoryRoot, name), "versions", version + ".json");

    /// <summary>How many entries of the walk are stat-ed, read and stored at once before their list entries are written.</summary>
    private const int Batch = 4096;

    public static async Task<(ModelManifest Manifest, ModelBackupStatus Status)> RunAsync(string repositoryRoot, string name, string sourcePath,
        string? version, IReadOnlyList<string> configPaths, bool force, IProgress<TransferProgress>? progress, CancellationToken ct,
        bool rehash = false, Action<string>? warn = null, Encryption.EncryptionKey? encrypt = null, bool ignoreInode = false)
    {
        if (!Directory.Exists(sourcePath))
            throw new DirectoryNotFoundException($"Model '{name}': the model directory '{sourcePath}' does not exist.");
        await using var modelLock = TargetLock.Acquire(repositoryRoot, Engine, name);
        var clock = Stopwatch.StartNew();
        var (chosen, source) = version is not null ? (version, "given") : DeclaredVersion(sourcePath);

        var store = new BlobStore(Path.Combine(ModelDirectory(repositoryRoot, name), "blobs"), encrypt);
        store.RemoveLeftovers();
        // As restic does with its parent snapshot: a file whose path, size, mtime and inode match the version before
        // is not read again; its stored blob is reused. That version is the one being backed up again when it exists (so
        // an unchanged run reads no file at all), else the newest; -Rehash reads everything, the way to catch content
        // changed behind a preserved size and mtime. Its list is read beside the walk, both in path order.
        var readable = rehash ? [] : Summaries(repositoryRoot, name);
        var previousPath = readable.Where(v => v.Version == chosen).Concat(readable).Select(v => VersionPath(repositoryRoot, name, v.Version)).FirstOrDefault();
        using var previous = previousPath is null ? null : new PreviousVersion(previousPath);

        var walk = PreferConfig(ModelWalk.Merge(
            ModelWalk.Sorted(sourcePath).Select(e => new Entry(e.Relative, e.Full, false)),
            configPaths.Select(c => new Entry("_config/" + c.TrimStart('/').Replace('\\', '/'), c, true)).OrderBy(c => c.Relative, StringComparer.Ordinal),
            e => e.Relative));
        // The total is not known before the walk ends (the walk is the backup); the version before's size stands in for it.
        var estimate = previous?.RawBytes;
        long done = 0, total = 0, newBytes = 0;
        var perFile = new Progress<long>(n => progress?.Report(new TransferProgress("Copying", Interlocked.Add(ref done, n), estimate)));
        // The model's files are read beneath one handle to its directory, never through a link swapped in since the listing.
        using var modelRoot = SafeDirectory.Supported ? SafeDirectory.OpenForReading(sourcePath) : null;
        // Small files go into packs (one fsync per pack, not per file), each worker filling one pack at a time; with
        // encryption.local each blob in a pack is sealed on its own (a BTENC1 stream), so a range read still decrypts it.
        var packs = new OpenPacks();
        FileModes.CreatePrivateDirectory(Path.Combine(store.Directory, "tmp"));
        using var list = new ManifestWriter(Path.Combine(store.Directory, "tmp", "manifest-" + Guid.NewGuid().ToString("N")));
        try
        {
            foreach (var batch in walk.Chunk(Batch))
            {
                ct.ThrowIfCancellationRequested();
                var known = batch.Select(e => e.Config || previous is null ? null : previous.Find(e.Relative)).ToArray();
                var results = new ModelFile?[batch.Length];
                var warnings = new string?[batch.Length];
                try
                {
                    await Parallel.ForEachAsync(Enumerable.Range(0, batch.Length),
                        new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 2, 4), CancellationToken = ct },
                        async (i, token) =>
                        {
                            var f = batch[i];
                            var stat = f.Config ? StatOf(f.Full) : FileKinds.LStatus(f.Full);
                            switch (stat?.Kind)
                            {
                                case null when f.Config: throw new FileNotFoundException($"Model '{name}': the config file '{f.Full}' does not exist.", f.Full);
                                case null or FileKinds.Kind.Directory or FileKinds.Kind.Missing: return; // gone since the listing (or now a directory)
                                case FileKinds.Kind.Other:
                                    warnings[i] = $"Model '{name}': skipped '{f.Full}': not a regular file (a FIFO, socket or device).";
                                    return;
                                case FileKinds.Kind.Symlink:
                                    var target = new FileInfo(f.Full).LinkTarget ?? "";
                                    if (ModelFile.LinkStaysInside(f.Relative, target)) results[i] = new ModelFile(f.Relative, 0, "", "777", DateTime.UnixEpoch, false, target);
                                    else warnings[i] = $"Model '{name}': skipped the symlink '{f.Full}' -> '{target}': it points outside the model (or not in plain relative form), and a restore never creates such a link.";
                                    return;
                            }
                            var info = stat!.Value;
                            string sha;
                            long size;
                            var written = false;
                            IReadOnlyList<string>? chunks = null;
                            // The quick check, as restic's: path, size, mtime and inode (an inode of 0 is one an older version did not
                            // keep; ignoreInode for NFS and FUSE, where a file's inode number can change with each mount, as restic's --ignore-inode).
                            if (known[i] is { } k && k.Size == info.Size && k.Modified == info.Modified && (ignoreInode || k.Inode == 0 || k.Inode == info.Inode)
                                && k.Blobs.All(store.Contains))
                            {
                                (sha, size, chunks) = (k.Sha256, k.Size, k.Chunks);
                                ((IProgress<long>)perFile).Report(size);
                            }
                            else if (info.Size < PackStore.Threshold)
                            {
                                (sha, size, written) = await StoreSmallAsync(f, info.Size, modelRoot, store, packs, encrypt, token);
                                ((IProgress<long>)perFile).Report(size);
                            }
                            else
                            {
                                SafeDirectory.Pause("model:backup-read:" + f.Relative);
                                Func<FileStream>? open = modelRoot is null || f.Config ? null : () => modelRoot.OpenReadBeneath(f.Relative, bufferSize: 0);
                                if (info.Size < BlobStore.ChunkThreshold) (sha, size, written) = await store.AddAsync(f.Full, perFile, token, open);
                                else
                                {
                                    (sha, size, var fresh, var parts) = await store.AddChunkedAsync(f.Full, perFile, token, open);
                                    Interlocked.Add(ref newBytes, fresh); // the chunks not stored before, not the whole file
                                    // A file that shrank to one chunk since the walk is one blob, as any file that size.
                                    chunks = parts.Count > 1 ? parts : null;
                                }
                            }
                            if (written) Interlocked.Add(ref newBytes, size);
                            // Mode and time from the walk's one stat (200,000 files: a stat per question was most of an unchanged run).
                            var mode = OperatingSystem.IsWindows() ? "644" : ModeText(info.Permissions);
                            results[i] = new ModelFile(f.Relative, size, sha, mode, info.Modified, f.Config, Inode: info.Inode, Chunks: chunks);
                        });
                }
                finally
                {
                    // In the walk's order, and even when a file of the batch failed: a skipped FIFO is still reported.
                    foreach (var w in warnings) if (w is not null) warn?.Invoke(w);
                }
                for (var i = 0; i < batch.Length; i++)
                {
                    if (results[i] is not { } r) continue;
                    list.Add(r);
                    if (!r.IsLink) total += r.Size;
                }
            }
            // Every pack finished (fsynced, read back, indexed) before the version that names its blobs is written.
            while (packs.Idle.TryTake(out var pack)) await packs.FinishAsync(pack, ct);
        }
        finally
        {
            // A failure or Ctrl+C: every unfinished pack is thrown away, never indexed (finished ones are not touched).
            foreach (var pack in packs.Begun) pack.Dispose();
        }
        // The previous list read to its end, so its checksum is checked: a hash it gave is trusted only now.
        previous?.Complete();
        var manifestHash = list.Hash;
        chosen ??= "sha256-" + manifestHash[..12];
        source ??= "content";
        if (!VersionPattern().IsMatch(chosen))
            throw new ArgumentException($"Model '{name}': '{chosen}' cannot name a version; use letters, digits, '.', '_', '+' and '-'.");
        var path = VersionPath(repositoryRoot, name, chosen);
        if (File.Exists(path))
        {
            // The version before was this one when it exists (its hash taken as it was read); else it is read now.
            var existingHash = previous is not null && previousPath == path && previous.Hash is { } h ? h : ModelJson.ReadLazily(path).ManifestHash;
            if (existingHash == manifestHash)
            {
                // The same content: unchanged, unless the stored version names a blob that is gone (a whole-file blob of an
                // earlier release whose content this run stored as chunks, say). Then it is written again, naming what is there.
                var existing = ModelJson.ReadLazily(path, (list.Count, manifestHash));
                if (existing.Files.All(f => f.Blobs.All(store.Contains))) return (existing, ModelBackupStatus.Unchanged);
                force = true;
            }
            else if (!force)
                throw new ModelVersionConflictException(
                    $"Model '{name}' version {chosen} is already backed up with different content ({source}). Give the new content a new version, or use -Force to replace that version.");
        }
        var manifest = new ModelManifest
        {
            Name = name, Version = chosen, VersionSource = source, Created = DateTime.UtcNow, SourcePath = sourcePath, Files = [],
            RawBytes = total, NewBytes = newBytes, DurationSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
        };
        FileModes.CreatePrivateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".partial";
        File.Delete(temp);
        list.WriteManifest(temp, manifest);
        previous?.Dispose(); // its handle closed before the name it reads may be replaced (Windows refuses that rename)
        File.Move(temp, path, overwrite: force);
        return ((manifest with { Files = new ManifestFileList(path, list.Count) }).WithKnownHash(manifestHash), ModelBackupStatus.Succeeded);
    }

    private readonly record struct Entry(string Relative, string Full, bool Config);

    /// <summary>
    /// One entry per path. A restore puts a version's config files under <c>_config/</c> in the model directory, so the
    /// next backup meets each twice: as that copy and as the config path itself. The config file is the one backed up
    /// (the copy is what it was at the restore); the merge gives the model's entry first.
    /// </summary>
    private static IEnumerable<Entry> PreferConfig(IEnumerable<Entry> merged)
    {
        Entry? held = null;
        foreach (var e in merged)
        {
            if (held is { } h && h.Relative == e.Relative)
            {
                held = h.Config ? h : e;
                continue;
            }
            if (held is { } previous) yield return previous;
            held = e;
        }
        if (held is { } last) yield return last;
    }

    /// <summary>
    /// A small file read whole into a pooled array of at least the size the walk saw (no stream buffer, no second copy,
    /// and no new array per file: 200,000 files were 6 GB of short-lived buffers, then most of the peak memory), then
    /// whatever a file that grew since has more. The caller returns the array to the pool.
    /// </summary>
    private static async Task<(byte[] Buffer, int Length)> ReadSmallAsync(Entry f, long size, SafeDirectory? modelRoot, CancellationToken ct)
    {
        SafeDirectory.Pause("model:backup-read:" + f.Relative);
        await using var source = modelRoot is null || f.Config ? new FileStream(f.Full, FileMode.Open, FileAccess.Read, FileShare.Read, 0)
            : modelRoot.OpenReadBeneath(f.Relative, bufferSize: 0);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)size + 1);
        try
        {
            var length = 0;
            int n;
            // One byte more than the walk saw is asked for, so a file that grew is noticed without a second read call.
            while ((n = await source.ReadAsync(buffer.AsMemory(length), ct)) > 0)
            {
                length += n;
                if (length < buffer.Length) continue;
                var larger = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                buffer.AsSpan(0, length).CopyTo(larger);
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                buffer = larger;
            }
            return (buffer, length);
        }
        catch
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>The packs a backup is filling: each worker takes an idle one, so several fill at once.</summary>
    private sealed class OpenPacks
    {
        public System.Collections.Concurrent.ConcurrentBag<PackWriter> Idle { get; } = [];
        public System.Collections.Concurrent.ConcurrentBag<PackWriter> Begun { get; } = [];
        /// <summary>Blobs being added to a pack not yet finished (once it is, the pack index has them): two equal files in one run are stored once.</summary>
        public System.Collections.Concurrent.ConcurrentDictionary<BlobId, PackWriter?> Adding { get; } = new();

        /// <summary>Finishes a pack (fsynced, read back, indexed), then releases its blobs' claims: the index has them now.</summary>
        public async Task FinishAsync(PackWriter pack, CancellationToken ct)
        {
            await pack.FinishAsync(ct);
            foreach (var claim in Adding.Where(c => ReferenceEquals(c.Value, pack)).ToList()) Adding.TryRemove(claim);
        }
    }

    /// <summary>A small file read, hashed and, when its content is not stored yet, added to a pack.</summary>
    private static async Task<(string Sha256, long Size, bool Written)> StoreSmallAsync(Entry f, long size, SafeDirectory? modelRoot, BlobStore store,
        OpenPacks packs, Encryption.EncryptionKey? encrypt, CancellationToken ct)
    {
        var (buffer, length) = await ReadSmallAsync(f, size, modelRoot, ct);
        try
        {
            var content = buffer.AsMemory(0, length);
            Span<byte> hash = stackalloc byte[32];
            System.Security.Cryptography.SHA256.HashData(content.Span, hash);
            var id = BlobId.From(hash);
            var sha = Convert.ToHexString(hash).ToLowerInvariant();
            // Claimed before the index is asked: a pack finishing meanwhile indexes its blobs before it releases their
            // claims, so a blob is either claimed here or found in the index, never stored twice.
            if (!packs.Adding.TryAdd(id, null)) return (sha, length, false);
            if (store.Contains(sha))
            {
                packs.Adding.TryRemove(id, out _);
                return (sha, length, false);
            }
            if (!packs.Idle.TryTake(out var pack)) packs.Begun.Add(pack = store.Packs.Begin(encrypt));
            packs.Adding[id] = pack;
            await pack.AddAsync(sha, content, ct);
            if (pack.Length >= PackStore.PackSize) await packs.FinishAsync(pack, ct);
            else packs.Idle.Add(pack);
            return (sha, length, true);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer); // in the pack's file (or already stored) by now
        }
    }

    /// <summary>Every readable version manifest of a model, newest first (unreadable ones are skipped).</summary>
    public static IReadOnlyList<ModelManifest> Versions(string repositoryRoot, string name) => ReadVersions(repositoryRoot, name).Versions;

    /// <summary>
    /// Every version manifest of a model, read once: the readable ones newest first, and the paths of those that exist
    /// but cannot be parsed (damaged, cut short), which retention must not work around.
    /// </summary>
    public static (IReadOnlyList<ModelManifest> Versions, IReadOnlyList<string> Unreadable) ReadVersions(string repositoryRoot, string name)
    {
        var dir = Path.Combine(ModelDirectory(repositoryRoot, name), "versions");
        if (!Directory.Exists(dir)) return ([], []);
        // Each read as a stream and checked whole, its list left on disk (read again where it is enumerated).
        var read = Directory.EnumerateFiles(dir, "*.json").Select(f => (Path: f, Manifest: ReadLazily(f))).ToList();
        return (read.Select(r => r.Manifest).OfType<ModelManifest>().OrderByDescending(m => m.Created).ToList(),
                read.Where(r => r.Manifest is null).Select(r => r.Path).Order(StringComparer.Ordinal).ToList());
    }

    private static ModelManifest? ReadLazily(string path)
    {
        try { return ModelJson.ReadLazily(path); }
        catch (System.Text.Json.JsonException) { return null; }
        catch (FileNotFoundException) { return null; } // removed since the listing: not a version any more
    }

    /// <summary>A version as the status needs it: its name, when it was made and how big it is, without its file list.</summary>
    public sealed record VersionSummary(string Version, DateTime Created, long RawBytes);

    /// <summary>
    /// Every readable version's summary, newest first: the top-level fields of each manifest, its file list skipped
    /// unparsed (a version of 200,000 training files is 30 MB of JSON; the status runs every 15 minutes).
    /// </summary>
    public static IReadOnlyList<VersionSummary> Summaries(string repositoryRoot, string name)
    {
        var dir = Path.Combine(ModelDirectory(repositoryRoot, name), "versions");
        if (!Directory.Exists(dir)) return [];
        var list = new List<VersionSummary>();
        foreach (var file in Directory.EnumerateFiles(dir, "*.json"))
        {
            try
            {
                var (head, whole) = ModelJson.Head(file);
                var reader = new Utf8JsonReader(head, isFinalBlock: whole, state: default);
                string? version = null;
                DateTime? created = null;
                long raw = 0;
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) continue;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var property = reader.GetString();
                    if (property == "files" && !whole) break; // written last: everything wanted is read
                    reader.Read();
                    switch (property)
                    {
                        case "version": version = reader.GetString(); break;
                        case "created": created = reader.GetDateTime(); break;
                        case "rawBytes": raw = reader.GetInt64(); break;
                        default: if (!reader.TrySkip()) throw new JsonException("cut short"); break;
                    }
                }
                if (version is not null && created is { } c) list.Add(new VersionSummary(version, c.Kind == DateTimeKind.Utc ? c : c.ToUniversalTime(), raw));
            }
            catch (Exception e) when (e is JsonException or IOException or InvalidOperationException or FormatException) { } // as Versions: an unreadable one is skipped
        }
        return list.OrderByDescending(v => v.Created).ToList();
    }

    /// <summary>The version a model directory declares: a "version" field in config.json, else the first line of VERSION.</summary>
    internal static (string? Version, string? Source) DeclaredVersion(string directory)
    {
        var config = Path.Combine(directory, "config.json");
        if (File.Exists(config))
        {
            try
            {
                using var json = JsonDocument.Parse(File.ReadAllBytes(config));
                if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("version", out var v))
                    return (v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText(), "config.json");
            }
            catch (JsonException) { }
        }
        var file = Path.Combine(directory, "VERSION");
        if (File.Exists(file) && File.ReadLines(file).FirstOrDefault()?.Trim() is { Length: > 0 } line) return (line, "VERSION");
        return (null, null);
    }
}
