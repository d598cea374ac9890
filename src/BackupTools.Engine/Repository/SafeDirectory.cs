using System.ComponentModel;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BackupTools.Engine.Repository;

/// <summary>
/// A directory opened once, without following a symlink, and worked on through that handle (openat, fchown,
/// renameat): what root does in a directory another account can write. Names are looked up relative to the handle,
/// so swapping the directory's path for a symlink after it was opened changes nothing, and files are created with
/// O_EXCL | O_NOFOLLOW under random names, so nothing planted is ever written through. Linux only.
/// </summary>
public sealed partial class SafeDirectory : IDisposable
{
    private const int AT_SYMLINK_NOFOLLOW = 0x100;
    private int _fd;

    private SafeDirectory(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    public string Path { get; }

    public static bool Supported => OpenFlags.Supported;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenAt(int dirFd, string name, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "fchownat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FchownAt(int dirFd, string name, int uid, int gid, int flags);

    [LibraryImport("libc", EntryPoint = "renameat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt(int oldDirFd, string oldName, int newDirFd, string newName);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int UnlinkAt(int dirFd, string name, int flags);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static partial int Fchown(SafeFileHandle fd, int uid, int gid);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int oldDirFd, string oldName, int newDirFd, string newName, uint flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    /// <summary>Flushes a directory's entries to disk (after renames into it), so a crash does not forget them; a no-op where unsupported.</summary>
    public static void SyncPath(string directory)
    {
        if (!Supported) return;
        using var d = OpenPath(directory, $"to sync '{directory}'");
        Fsync(d._fd);
    }

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkdirAt(int dirFd, string name, int mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    /// <summary>Whether this process has root's powers (uid 0 whatever the account is called).</summary>
    public static bool IsRoot => Supported ? GetEuid() == 0 : Environment.UserName == "root";

    /// <summary>Opens a directory; refuses when the path's last part is a symlink.</summary>
    internal static SafeDirectory Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path).TrimEnd('/');
        if (full.Length == 0) full = "/";
        var fd = Open(full, OpenFlags.OpenDirectory);
        if (fd < 0)
            throw new IOException($"Cannot open the directory '{full}' without following a symlink: {Error()}. " +
                                  "If it is a symlink, give the real directory.");
        return new SafeDirectory(fd, full);
    }

    /// <summary>Creates a new file (never an existing one, never through a symlink) with this mode.</summary>
    public FileStream CreateFile(string name, UnixFileMode mode)
    {
        const int O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80;
        var fd = OpenAt(_fd, Check(name), O_WRONLY | O_CREAT | O_EXCL | OpenFlags.NoFollow | OpenFlags.CloseOnExec, (int)mode);
        if (fd < 0) throw new IOException($"Cannot create '{System.IO.Path.Combine(Path, name)}': {Error()}.");
        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Write, 0);
    }

    /// <summary>Sets the owner of an open file (fchown: no path, so no race).</summary>
    public static void SetOwner(FileStream file, int uid, int gid)
    {
        if (Fchown(file.SafeFileHandle, uid, gid) != 0) throw new IOException($"Cannot set the owner of '{file.Name}': {Error()}.");
    }

    /// <summary>Sets the owner of an entry by name, never following a symlink (a planted link gets the owner, not its target).</summary>
    public void SetOwnerNoFollow(string name, int uid, int gid)
    {
        if (FchownAt(_fd, Check(name), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            throw new IOException($"Cannot set the owner of '{System.IO.Path.Combine(Path, name)}': {Error()}.");
    }

    /// <summary>Creates a new subdirectory (never an existing name, symlinks included) and opens it.</summary>
    public SafeDirectory CreateSubdirectory(string name, UnixFileMode mode)
    {
        if (MkdirAt(_fd, Check(name), (int)mode) != 0) throw new IOException($"Cannot create '{System.IO.Path.Combine(Path, name)}': {Error()}.");
        var fd = OpenAt(_fd, name, OpenFlags.OpenDirectory, 0);
        if (fd < 0) throw new IOException($"Cannot open '{System.IO.Path.Combine(Path, name)}' without following a symlink: {Error()}.");
        var created = new SafeDirectory(fd, System.IO.Path.Combine(Path, name));
        // Between mkdirat and openat the parent's owner could put a directory of its own at the name: ours is ours.
        if (created.Stat().Uid != GetEuid())
        {
            created.Dispose();
            throw new IOException($"'{created.Path}' was replaced right after it was created (it belongs to another account now); nothing was written into it.");
        }
        return created;
    }

    /// <summary>Whether an entry of this name exists (a symlink counts, whatever it points at).</summary>
    public bool Exists(string name) => FileKinds.Of(System.IO.Path.Combine(Path, Check(name))) != FileKinds.Kind.Missing;

    /// <summary>Moves an entry of this directory into another opened directory (renameat between the two handles).</summary>
    public void MoveTo(string name, SafeDirectory target, string newName)
    {
        if (RenameAt(_fd, Check(name), target._fd, Check(newName)) != 0)
            throw new IOException($"Cannot move '{System.IO.Path.Combine(Path, name)}' to '{System.IO.Path.Combine(target.Path, newName)}': {Error()}.");
    }

    /// <summary>Renames within this directory (replacing the target name itself, never a link's target).</summary>
    public void Rename(string from, string to)
    {
        if (RenameAt(_fd, Check(from), _fd, Check(to)) != 0)
            throw new IOException($"Cannot rename '{from}' to '{to}' in '{Path}': {Error()}.");
    }

    public void TryDelete(string name) => UnlinkAt(_fd, Check(name), 0);

    /// <summary>Renames within this directory, never over an existing name (renameat2 RENAME_NOREPLACE).</summary>
    public void RenameNoReplace(string from, string to)
    {
        if (RenameAt2(_fd, Check(from), _fd, Check(to), FlagNoReplace) != 0)
            throw new IOException($"Cannot rename '{from}' to '{to}' in '{Path}': {Error()}.");
    }

    private const uint FlagNoReplace = 1, FlagExchange = 2;
    private const int EINVAL = 22, ENOSYS = 38;

    /// <summary>
    /// Swaps two entries (of any two directories) in one atomic step, through their parents opened without following a
    /// symlink, and fsyncs both parents; false when the file system cannot exchange (EINVAL), so the caller falls back.
    /// </summary>
    public static bool TryExchange(string a, string b) => RenameBetweenParents(a, b, FlagExchange, allowUnsupported: true);

    /// <summary>Renames a path to another (parents opened without following), never replacing anything; fsyncs the parents.</summary>
    public static void MoveNoReplace(string from, string to) => RenameBetweenParents(from, to, FlagNoReplace, allowUnsupported: false);

    private static bool RenameBetweenParents(string from, string to, uint flags, bool allowUnsupported)
    {
        from = System.IO.Path.GetFullPath(from).TrimEnd('/');
        to = System.IO.Path.GetFullPath(to).TrimEnd('/');
        using var fromParent = Open(System.IO.Path.GetDirectoryName(from) ?? "/");
        using var toParent = Open(System.IO.Path.GetDirectoryName(to) ?? "/");
        if (RenameAt2(fromParent._fd, Check(System.IO.Path.GetFileName(from)), toParent._fd, Check(System.IO.Path.GetFileName(to)), flags) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (allowUnsupported && errno is EINVAL or ENOSYS) return false;
            throw new IOException($"Could not rename '{from}' to '{to}': {new Win32Exception(errno).Message}.");
        }
        Fsync(toParent._fd);
        if (fromParent.Path != toParent.Path) Fsync(fromParent._fd);
        return true;
    }

    /// <summary>A name in this directory only: no '/', no '..'.</summary>
    private static string Check(string name) =>
        name.Length == 0 || name.Contains('/') || name.Contains('\0') || name is "." or ".." ? throw new ArgumentException($"'{name}' is not a plain file name.", nameof(name)) : name;

    private static string Error() => new Win32Exception(Marshal.GetLastPInvokeError()).Message;

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Close(fd);
    }
}

/// <summary>open(2) flags, which differ between x86-64 and arm64.</summary>
internal static class OpenFlags
{
    public static bool Supported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;
    private static bool Arm => RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    public static int Directory => Arm ? 0x4000 : 0x10000;
    public static int NoFollow => Arm ? 0x8000 : 0x20000;
    public const int CloseOnExec = 0x80000;
    public static int OpenDirectory => Directory | NoFollow | CloseOnExec;
}
