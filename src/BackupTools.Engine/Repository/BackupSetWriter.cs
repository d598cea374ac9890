using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace BackupTools.Engine.Repository;

/// <summary>A set failed verification after it was written; it is not published.</summary>
public sealed class BackupVerificationException(string message) : Exception(message);

/// <summary>
/// A backup that holds nothing where there was something, or nothing at all: a "successful" backup of nothing is how
/// a wrong index pattern or a wiped server goes unnoticed until the restore. Not thrown when the target sets allowEmpty.
/// </summary>
public sealed class EmptyBackupException(string target, string what) : Exception(
    $"Target '{target}': {what}. A backup of nothing is not counted as a backup, and nothing was published. " +
    $"If the target may really be empty, set 'allowEmpty: true' under targets.{target} in the policy.");

/// <summary>
/// Writes one backup set: everything goes into <c>&lt;id&gt;.partial/</c>, each file is verified by re-reading it,
/// <c>manifest.json</c> is written last and the directory is renamed into place in one atomic step. Disposing an
/// uncommitted writer deletes the partial directory, so a failure never leaves a set that looks whole.
/// </summary>
public sealed class BackupSetWriter : IAsyncDisposable
{
    private readonly List<WrittenFile> _files = [];
    private bool _committed;

    private BackupSetWriter(string id, string partialPath, string finalPath, string engine, string target, string type, DateTime start)
    {
        Id = id;
        PartialPath = partialPath;
        FinalPath = finalPath;
        Engine = engine;
        Target = target;
        Type = type;
        StartTime = start;
    }

    public string Id { get; }
    public string PartialPath { get; }
    public string FinalPath { get; }
    public string Engine { get; }
    public string Target { get; }
    public string Type { get; }
    public DateTime StartTime { get; }
    public IReadOnlyList<WrittenFile> Files => _files;

    /// <summary>Set ids sort by time: <c>20261126T020000Z-1a2b3c4d</c>.</summary>
    public static string NewId(DateTime startUtc) =>
        Stamps.Compact(startUtc) + "-" +
        Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();

    public static string TypeDirectory(string repositoryRoot, string engine, string target, string type) =>
        Path.Combine(repositoryRoot, engine, target, type);

    internal static BackupSetWriter Create(string repositoryRoot, string engine, string target, string type, DateTime startUtc)
    {
        var id = NewId(startUtc);
        var parent = TypeDirectory(repositoryRoot, engine, target, type);
        foreach (var dir in new[] { Path.Combine(repositoryRoot, engine), Path.Combine(repositoryRoot, engine, target), parent })
            FileModes.CreatePrivateDirectory(dir);
        var final = Path.Combine(parent, id);
        var partial = final + BackupCatalog.PartialSuffix;
        FileModes.CreatePrivateDirectory(partial);
        return new BackupSetWriter(id, partial, final, engine, target, type, startUtc);
    }

    /// <summary>Streams <paramref name="source"/> into a new file of the set.</summary>
    public async Task<WrittenFile> AddFileAsync(string name, Stream source, CompressionOptions compression,
        IProgress<TransferProgress>? progress, CancellationToken cancellationToken, long? totalBytes = null)
    {
        EnsureOpen();
        if (name.Contains('/') || name.Contains('\\') || name == BackupManifest.FileName)
            throw new ArgumentException($"'{name}' cannot be a file name inside a backup set.", nameof(name));
        var written = await StreamingWriter.WriteAsync(source, Path.Combine(PartialPath, name + compression.FileSuffix),
            compression, progress, cancellationToken, totalBytes);
        _files.Add(written);
        return written;
    }

    /// <summary>Re-reads every file against its recorded SHA-256, writes the manifest, publishes the set.</summary>
    public async Task<BackupManifest> CommitAsync(Func<BackupManifest, BackupManifest> describe, IProgress<TransferProgress>? progress,
        CancellationToken cancellationToken)
    {
        EnsureOpen();
        long verified = 0;
        foreach (var f in _files)
        {
            var actual = await StreamingWriter.HashFileAsync(Path.Combine(PartialPath, f.Name), cancellationToken);
            if (actual != f.Sha256)
                throw new BackupVerificationException(
                    $"File '{f.Name}' of backup set {Id} reads back with SHA-256 {actual} but {f.Sha256} was written; " +
                    "the storage under the repository is returning different bytes. Check the disk and file system before the next run.");
            verified += f.StoredBytes;
            progress?.Report(new TransferProgress("Verifying", verified, null));
        }
        var end = DateTime.UtcNow;
        var manifest = describe(new BackupManifest
        {
            Id = Id, Engine = Engine, Target = Target, Type = Type, StartTime = StartTime, EndTime = end,
            DurationSeconds = Math.Round((end - StartTime).TotalSeconds, 3),
            RawBytes = _files.Sum(f => f.RawBytes), StoredBytes = _files.Sum(f => f.StoredBytes),
            Files = _files.ToList(), Host = Environment.MachineName,
            BackupToolsVersion = typeof(BackupSetWriter).Assembly.GetName().Version?.ToString(3),
        });
        cancellationToken.ThrowIfCancellationRequested();
        FileModes.WriteDurably(Path.Combine(PartialPath, BackupManifest.FileName),
            JsonSerializer.SerializeToUtf8Bytes(manifest, RepositoryJson.Default.BackupManifest));
        Directory.Move(PartialPath, FinalPath);
        _committed = true;
        CatalogIndex.Published(FinalPath);
        return manifest;
    }

    public ValueTask DisposeAsync()
    {
        if (!_committed) RemovePartial(PartialPath);
        return ValueTask.CompletedTask;
    }

    internal static void RemovePartial(string path)
    {
        try { Directory.Delete(path, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }

    private void EnsureOpen()
    {
        if (_committed) throw new InvalidOperationException($"Backup set {Id} is already committed.");
    }
}
