using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BackupTools.Engine.Repository;

/// <summary>
/// Building and removing whole trees through handles: every subdirectory is opened from its parent's handle without
/// following a symlink, so an account that can write somewhere in the tree can rename and plant entries all it likes
/// and root still only ever reads, writes and deletes what is really inside.
/// </summary>
public sealed partial class SafeDirectory
{
    private const int AT_REMOVEDIR = 0x200, EISDIR = 21, ENOENT = 2;

    [LibraryImport("libc", EntryPoint = "symlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SymlinkAt(string target, int dirFd, string name);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    private static partial int FchmodFd(int fd, int mode);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static partial int FchownFd(int fd, int uid, int gid);

    /// <summary>Opens an existing subdirectory; refuses a symlink or anything that is not a directory.</summary>
    public SafeDirectory OpenSubdirectory(string name)
    {
        var fd = OpenAt(_fd, Check(name), OpenFlags.OpenDirectory, 0);
        if (fd < 0) throw new IOException($"Cannot open '{System.IO.Path.Combine(Path, name)}' as a directory without following a symlink: {Error()}.");
        return new SafeDirectory(fd, System.IO.Path.Combine(Path, name));
    }

    /// <summary>Opens a subdirectory, creating it when missing (never through a symlink).</summary>
    public SafeDirectory OpenOrCreateSubdirectory(string name, UnixFileMode mode) =>
        StatEntry(name) is null ? CreateSubdirectory(name, mode) : OpenSubdirectory(name);

    /// <summary>Opens a regular file for reading; refuses a symlink (and never blocks on a FIFO).</summary>
    public FileStream OpenRead(string name)
    {
        const int O_RDONLY = 0, O_NONBLOCK = 0x800;
        var fd = OpenAt(_fd, Check(name), O_RDONLY | O_NONBLOCK | OpenFlags.NoFollow | OpenFlags.CloseOnExec, 0);
        if (fd < 0) throw new IOException($"Cannot open '{System.IO.Path.Combine(Path, name)}' without following a symlink: {Error()}.");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (StatEntry(name) is { } s && (s.Mode & 0xF000) != 0x8000)
        {
            handle.Dispose();
            throw new IOException($"'{System.IO.Path.Combine(Path, name)}' is not a regular file.");
        }
        return new FileStream(handle, FileAccess.Read, 1 << 16);
    }

    /// <summary>Creates a symlink of this name (never replacing anything) pointing at target.</summary>
    public void CreateSymlink(string name, string target)
    {
        if (SymlinkAt(target, _fd, Check(name)) != 0)
            throw new IOException($"Cannot create the symlink '{System.IO.Path.Combine(Path, name)}' -> '{target}': {Error()}.");
    }

    /// <summary>Sets this directory's own permission bits (fchmod on its handle).</summary>
    public void SetMode(UnixFileMode mode)
    {
        if (FchmodFd(_fd, (int)mode) != 0) throw new IOException($"Cannot set the mode of '{Path}': {Error()}.");
    }

    /// <summary>Sets this directory's own owner (fchown on its handle).</summary>
    public void SetOwner(uint uid, uint gid)
    {
        if (FchownFd(_fd, (int)uid, (int)gid) != 0) throw new IOException($"Cannot set the owner of '{Path}': {Error()}.");
    }

    /// <summary>The names in this directory, read through its handle (/proc/self/fd names the open directory, not a path).</summary>
    public IReadOnlyList<string> Entries() =>
        Directory.EnumerateFileSystemEntries($"/proc/self/fd/{_fd}", "*", new EnumerationOptions { AttributesToSkip = 0 })
            .Select(System.IO.Path.GetFileName).OfType<string>().ToList();

    /// <summary>
    /// Removes an entry and, when it is a real directory, everything in it, never following a symlink: a link is
    /// removed itself. Missing is fine (nothing to do).
    /// </summary>
    public void DeleteTree(string name)
    {
        if (UnlinkAt(_fd, Check(name), 0) == 0) return;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == ENOENT) return;
        if (errno != EISDIR) throw new IOException($"Cannot remove '{System.IO.Path.Combine(Path, name)}': {Error()}.");
        using (var sub = OpenSubdirectory(name))
            foreach (var entry in sub.Entries()) sub.DeleteTree(entry);
        if (UnlinkAt(_fd, name, AT_REMOVEDIR) != 0 && Marshal.GetLastPInvokeError() != ENOENT)
            throw new IOException($"Cannot remove the directory '{System.IO.Path.Combine(Path, name)}': {Error()}.");
    }
}
