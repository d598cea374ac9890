using System.Security.Cryptography;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Models;

/// <summary>
/// A model version being built under a new directory, entirely through handles: each subdirectory is made with
/// mkdirat and opened from its parent without following a symlink, each file created O_EXCL | O_NOFOLLOW, its mode
/// and time set on the open file. Nothing is looked up by a full path, so an account that can write the destination's
/// parent cannot redirect any of it.
/// </summary>
internal sealed class ModelTree(SafeDirectory root, (uint Uid, uint Gid)? owner) : IDisposable
{
    private readonly Dictionary<string, SafeDirectory> _directories = new(StringComparer.Ordinal) { [""] = root };

    /// <param name="openBlob">The blob's original bytes (BlobStore.OpenPlain: decrypted when it is stored encrypted).</param>
    public async Task WriteFileAsync(string relative, Func<Stream> openBlob, UnixFileMode mode, DateTime modified, CancellationToken ct)
    {
        var (directory, name) = Locate(relative, create: true);
        await using (var target = directory.CreateFile(name, FileModes.PrivateFile))
        {
            await using (var source = openBlob())
                await source.CopyToAsync(target, 1 << 20, ct);
            target.Flush(flushToDisk: true);
            // Owner, mode and time on the open file (fchown, then fchmod, as chown clears setuid; futimens after the last
            // write), never by name: the directories are root's 0700 until the very end, but a name is a name.
            if (owner is { } o) SafeDirectory.SetOwner(target, (int)o.Uid, (int)o.Gid);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target.SafeFileHandle, mode);
            File.SetLastWriteTimeUtc(target.SafeFileHandle, modified);
        }
    }

    public void CreateLink(string relative, string target)
    {
        var (directory, name) = Locate(relative, create: true);
        directory.CreateSymlink(name, target);
        // Its directory is still root's 0700: nobody else can have swapped the name since.
        if (owner is { } o) directory.SetOwnerNoFollow(name, (int)o.Uid, (int)o.Gid);
    }

    /// <summary>Whether the entry reads back as the manifest has it (content hash, or link target).</summary>
    public async Task<bool> MatchesAsync(ModelFile file, CancellationToken ct)
    {
        var (directory, name) = Locate(file.Path, create: false);
        if (file.LinkTarget is { } target) return directory.LinkTarget(name) == target;
        await using var stream = directory.OpenRead(name);
        return Convert.ToHexString(await SHA256.HashDataAsync(stream, ct)).ToLowerInvariant() == file.Sha256;
    }

    /// <summary>
    /// Opens the directories up last, once the tree is checked: as root they get the destination's owner, and all of them
    /// its permission bits, both through their handles (files and links got their owner when they were made).
    /// </summary>
    public void HandOver(UnixFileMode directoryMode)
    {
        foreach (var directory in _directories.Values)
        {
            if (owner is { } o) directory.SetOwner(o.Uid, o.Gid);
            directory.SetMode(directoryMode);
        }
    }

    private (SafeDirectory Directory, string Name) Locate(string relative, bool create)
    {
        var cut = relative.LastIndexOf('/');
        if (cut < 0) return (root, relative);
        var parentPath = relative[..cut];
        if (!_directories.TryGetValue(parentPath, out var directory))
        {
            var (above, name) = Locate(parentPath, create);
            directory = create ? above.OpenOrCreateSubdirectory(name, FileModes.PrivateDirectory) : above.OpenSubdirectory(name);
            _directories[parentPath] = directory;
        }
        return (directory, relative[(cut + 1)..]);
    }

    public void Dispose()
    {
        foreach (var (path, directory) in _directories)
            if (path.Length > 0) directory.Dispose(); // the root is the caller's
    }
}
