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

    /// <summary>
    /// The model's regular files and symlinks. Never through a symlinked directory (root would copy whatever it points
    /// at, /root included) and never a FIFO (opening one blocks the job forever, holding the model's lock), a socket or a
    /// device: those are skipped with a warning naming them. A symlink is recorded as a link when it points inside the
    /// model (relative, plain form), and skipped with a warning otherwise.
    /// </summary>
    private static IEnumerable<(string Full, string? Link, FileKinds.Status Stat)> Entries(string root, string name, Action<string>? warn)
    {
        var directories = new List<string> { root };
        directories.AddRange(Directory.EnumerateDirectories(root, "*", new EnumerationOptions
        {
            RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = false,
        }));
        // The names first (reading directories asks nothing of the inodes), then one lstat per entry on every core: the
        // lstat answers everything asked of a file below (kind, size, time, mode, inode), and on a tree of 200,000 files
        // they are most of the walk.
        var entries = new List<string>();
        foreach (var directory in directories)
            entries.AddRange(Directory.EnumerateFileSystemEntries(directory, "*", new EnumerationOptions { AttributesToSkip = 0 }));
        var stats = new FileKinds.Status?[entries.Count];
        Parallel.For(0, entries.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 2, 4) },
            i => stats[i] = FileKinds.LStatus(entries[i]));
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i];
            if (stats[i] is not { } stat) continue; // gone since the listing
            switch (stat.Kind)
            {
                case FileKinds.Kind.Regular: yield return (entry, null, stat); break;
                case FileKinds.Kind.Symlink:
                    var target = new FileInfo(entry).LinkTarget ?? "";
                    if (ModelFile.LinkStaysInside(Path.GetRelativePath(root, entry).Replace('\\', '/'), target)) yield return (entry, target, stat);
                    else warn?.Invoke($"Model '{name}': skipped the symlink '{entry}' -> '{target}': it points outside the model (or not in plain relative form), and a restore never creates such a link.");
                    break;
                case FileKinds.Kind.Other: warn?.Invoke($"Model '{name}': skipped '{entry}': not a regular file (a FIFO, socket or device)."); break;
            }
        }
    }

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

    public static async Task<(ModelManifest Manifest, ModelBackupStatus Status)> RunAsync(string repositoryRoot, string name, string sourcePath,
        string? version, IReadOnlyList<string> configPaths, bool force, IProgress<TransferProgress>? progress, CancellationToken ct,
        bool rehash = false, Action<string>? warn = null, Encryption.EncryptionKey? encrypt = null)
    {
        if (!Directory.Exists(sourcePath))
            throw new DirectoryNotFoundException($"Model '{name}': the model directory '{sourcePath}' does not exist.");
        await using var modelLock = TargetLock.Acquire(repositoryRoot, Engine, name);
        var clock = Stopwatch.StartNew();
        var (chosen, source) = version is not null ? (version, "given") : DeclaredVersion(sourcePath);
        var files = Entries(sourcePath, name, warn)
            .Select(f => (f.Full, Relative: Path.GetRelativePath(sourcePath, f.Full).Replace('\\', '/'), Config: false, f.Link, Stat: (FileKinds.Status?)f.Stat))
            .Concat(configPaths.Select(c => (Full: c, Relative: "_config/" + c.TrimStart('/').Replace('\\', '/'), Config: true, Link: (string?)null, Stat: StatOf(c))))
            .OrderBy(f => f.Relative, StringComparer.Ordinal).ToList();

        // Quick check, as rsync does: the same version with every size and mtime unchanged needs no reading at all.
        // rehash reads everything: the way to catch content changed behind a preserved size and mtime.
        if (chosen is not null && File.Exists(VersionPath(repositoryRoot, name, chosen)) && !force && !rehash)
        {
            var existing = ModelJson.Read(VersionPath(repositoryRoot, name, chosen))!;
            if (existing.Files.Count == files.Count && files.All(f => existing.Files.Any(e => e.Path == f.Relative && (f.Link is not null
                    ? e.LinkTarget == f.Link
                    : !e.IsLink && f.Stat is { } st && e.Size == st.Size && e.Modified == st.Modified && (e.Inode == 0 || e.Inode == st.Inode)))))
                return (existing, ModelBackupStatus.Unchanged);
        }

        var store = new BlobStore(Path.Combine(ModelDirectory(repositoryRoot, name), "blobs"), encrypt);
        store.RemoveLeftovers();
        // As restic does with its parent snapshot: a file whose path, size and modification time match the newest
        // version is not read again; its stored blob is reused. A changed file always has a new mtime.
        Dictionary<string, ModelFile> previous = (rehash ? null : Newest(repositoryRoot, name))?.Files.Where(f => !f.IsLink).ToDictionary(f => f.Path, StringComparer.Ordinal) ?? [];
        var total = files.Where(f => f.Link is null).Sum(f => f.Stat?.Size ?? 0);
        long done = 0;
        var perFile = new Progress<long>(n => progress?.Report(new TransferProgress("Copying", Interlocked.Add(ref done, n), total)));
        var results = new ModelFile[files.Count];
        // The model's files are read beneath one handle to its directory, never through a link swapped in since the listing.
        using var modelRoot = SafeDirectory.Supported ? SafeDirectory.OpenForReading(sourcePath) : null;
        long newBytes = 0;
        // Small files go into packs (one fsync per pack, not per file), each worker filling one pack at a time; with
        // encryption.local each blob in a pack is sealed on its own (a BTENC1 stream), so a range read still decrypts it.
        var idle = new System.Collections.Concurrent.ConcurrentBag<PackWriter>();
        var begun = new System.Collections.Concurrent.ConcurrentBag<PackWriter>();
        var adding = new System.Collections.Concurrent.ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        try
        {
        await Parallel.ForEachAsync(Enumerable.Range(0, files.Count),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Clamp(Environment.ProcessorCount, 2, 4), CancellationToken = ct },
            async (i, token) =>
            {
                var f = files[i];
                if (f.Link is not null)
                {
                    results[i] = new ModelFile(f.Relative, 0, "", "777", DateTime.UnixEpoch, false, f.Link);
                    return;
                }
                // Taken in the walk; a config file that vanished since is an error when it is opened, as before.
                var info = f.Stat ?? throw new FileNotFoundException($"Model '{name}': '{f.Full}' is gone.", f.Full);
                string sha;
                long size;
                var written = false;
                // The quick check, as restic's: path, size, mtime and inode (an inode of 0 is one an older version did not keep).
                if (previous.TryGetValue(f.Relative, out var known) && known.Size == info.Size && known.Modified == info.Modified
                    && (known.Inode == 0 || known.Inode == info.Inode) && store.Contains(known.Sha256))
                {
                    (sha, size) = (known.Sha256, known.Size);
                    ((IProgress<long>)perFile).Report(size);
                }
                else if (info.Size < PackStore.Threshold)
                {
                    SafeDirectory.Pause("model:backup-read:" + f.Relative);
                    byte[] content;
                    // Read straight into an array of the size the walk saw (no stream buffer, no second copy: 200,000
                    // files were 6 GB of short-lived buffers), then whatever a file that grew since has more.
                    await using (var source = modelRoot is null || f.Config ? new FileStream(f.Full, FileMode.Open, FileAccess.Read, FileShare.Read, 0)
                                     : modelRoot.OpenReadBeneath(f.Relative, bufferSize: 0))
                    {
                        content = new byte[info.Size];
                        var n = await source.ReadAtLeastAsync(content, content.Length, throwOnEndOfStream: false, token);
                        if (n < content.Length) content = content[..n];
                        else
                        {
                            using var more = new MemoryStream();
                            await source.CopyToAsync(more, token);
                            if (more.Length > 0) content = [.. content, .. more.ToArray()];
                        }
                    }
                    (sha, size) = (Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(content)).ToLowerInvariant(), content.Length);
                    ((IProgress<long>)perFile).Report(size);
                    if (!store.Contains(sha) && adding.TryAdd(sha, 0))
                    {
                        if (!idle.TryTake(out var pack)) begun.Add(pack = store.Packs.Begin(encrypt));
                        await pack.AddAsync(sha, content, token);
                        written = true;
                        if (pack.Length >= PackStore.PackSize) await pack.FinishAsync(token);
                        else idle.Add(pack);
                    }
                }
                else
                {
                    SafeDirectory.Pause("model:backup-read:" + f.Relative);
                    (sha, size, written) = await store.AddAsync(f.Full, perFile, token,
                        modelRoot is null || f.Config ? null : () => modelRoot.OpenReadBeneath(f.Relative));
                }
                if (written) Interlocked.Add(ref newBytes, size);
                // Mode and time from the walk's one stat (200,000 files: a stat per question was most of an unchanged run).
                var mode = OperatingSystem.IsWindows() ? "644" : ModeText(info.Permissions);
                results[i] = new ModelFile(f.Relative, size, sha, mode, info.Modified, f.Config, Inode: info.Inode);
            });
            // Every pack finished (fsynced, read back, indexed) before the version that names its blobs is written.
            while (idle.TryTake(out var pack)) await pack.FinishAsync(ct);
        }
        finally
        {
            // A failure or Ctrl+C: every unfinished pack is thrown away, never indexed (finished ones are not touched).
            foreach (var pack in begun) pack.Dispose();
        }
        var manifestHash = ModelManifest.HashOf(results);
        chosen ??= "sha256-" + manifestHash[..12];
        source ??= "content";
        if (!VersionPattern().IsMatch(chosen))
            throw new ArgumentException($"Model '{name}': '{chosen}' cannot name a version; use letters, digits, '.', '_', '+' and '-'.");
        var path = VersionPath(repositoryRoot, name, chosen);
        if (File.Exists(path))
        {
            var existing = ModelJson.Read(path)!;
            if (existing.ManifestHash == manifestHash) return (existing, ModelBackupStatus.Unchanged);
            if (!force)
                throw new ModelVersionConflictException(
                    $"Model '{name}' version {chosen} is already backed up with different content ({source}). Give the new content a new version, or use -Force to replace that version.");
        }
        var manifest = new ModelManifest
        {
            Name = name, Version = chosen, VersionSource = source, Created = DateTime.UtcNow, SourcePath = sourcePath, Files = results,
            RawBytes = total, NewBytes = newBytes, DurationSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
        };
        FileModes.CreatePrivateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".partial";
        File.Delete(temp);
        ModelJson.WriteDurably(temp, manifest);
        File.Move(temp, path, overwrite: force);
        return (manifest, ModelBackupStatus.Succeeded);
    }

    /// <summary>The newest readable version, found from the summaries so only its own file list is parsed (5 kept versions of 200,000 files each are 5 lists).</summary>
    private static ModelManifest? Newest(string repositoryRoot, string name) =>
        Summaries(repositoryRoot, name).Select(v => ModelJsonReader.Read(VersionPath(repositoryRoot, name, v.Version))).FirstOrDefault(m => m is not null);

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
        var read = Directory.EnumerateFiles(dir, "*.json").Select(f => (Path: f, Manifest: ModelJsonReader.Read(f))).ToList();
        return (read.Select(r => r.Manifest).OfType<ModelManifest>().OrderByDescending(m => m.Created).ToList(),
                read.Where(r => r.Manifest is null).Select(r => r.Path).Order(StringComparer.Ordinal).ToList());
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
