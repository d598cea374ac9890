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
    /// <param name="bufferSize">The stream's buffer (0: none, for a caller reading whole files into arrays of their own).</param>
    public FileStream OpenRead(string name, int bufferSize = 1 << 16)
    {
        const int O_RDONLY = 0, O_NONBLOCK = 0x800;
        var fd = OpenAt(_fd, Check(name), O_RDONLY | O_NONBLOCK | OpenFlags.NoFollow | OpenFlags.CloseOnExec, 0);
        if (fd < 0) throw new IOException($"Cannot open '{System.IO.Path.Combine(Path, name)}' without following a symlink: {Error()}.");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (!IsRegularFile(fd))
        {
            handle.Dispose();
            throw new IOException($"'{System.IO.Path.Combine(Path, name)}' is not a regular file.");
        }
        return new FileStream(handle, FileAccess.Read, bufferSize);
    }

    /// <summary>
    /// Opens a file below this directory for reading, each directory on the relative path opened from the one before
    /// without following a symlink, and the file itself with O_NOFOLLOW: a name swapped for a link between a listing and
    /// this read (to /etc/shadow, say) is refused, never read.
    /// </summary>
    public FileStream OpenReadBeneath(string relative, int bufferSize = 1 << 16)
    {
        var parts = relative.Split('/');
        if (parts.Length == 1) return OpenRead(parts[0], bufferSize);
        var directories = new List<SafeDirectory>();
        try
        {
            var current = this;
            foreach (var part in parts[..^1])
            {
                current = current.OpenSubdirectory(part);
                directories.Add(current);
            }
            return current.OpenRead(parts[^1], bufferSize); // the descriptor outlives the directory handles
        }
        finally
        {
            foreach (var d in directories) d.Dispose();
        }
    }

    /// <summary>Opens a directory to read beneath (the last component must not be a symlink).</summary>
    public static SafeDirectory OpenForReading(string path) => Open(path);

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
    /// removed itself. Missing is fine (nothing to do). With onlyOwner, entries of any other owner are left where they
    /// are (returns false): an account that can write the tree could have moved a third account's files into it.
    /// </summary>
    public bool DeleteTree(string name, uint? onlyOwner = null)
    {
        if (StatEntry(name) is not { } entry) return true;
        if (onlyOwner is { } owner && entry.Uid != owner) return false;
        if ((entry.Mode & 0xF000) != 0x4000)
        {
            if (UnlinkAt(_fd, Check(name), 0) == 0 || Marshal.GetLastPInvokeError() == ENOENT) return true;
            if (Marshal.GetLastPInvokeError() != EISDIR) throw new IOException($"Cannot remove '{System.IO.Path.Combine(Path, name)}': {Error()}.");
        }
        var all = true;
        using (var sub = OpenSubdirectory(name))
            foreach (var child in sub.Entries()) all &= sub.DeleteTree(child, onlyOwner);
        if (!all) return false;
        if (UnlinkAt(_fd, name, AT_REMOVEDIR) != 0 && Marshal.GetLastPInvokeError() != ENOENT)
            throw new IOException($"Cannot remove the directory '{System.IO.Path.Combine(Path, name)}': {Error()}.");
        return true;
    }

    /// <summary>
    /// Removes a tree this process renamed or made, only if the name still holds that very directory (an account that
    /// can write here could have renamed another directory to it), and only what belongs to that directory's owner.
    /// </summary>
    public bool DeleteTreeIfSame(string name, SafeDirectory held) =>
        IsSameAs(name, held) && DeleteTree(name, held.Stat().Uid);
}
