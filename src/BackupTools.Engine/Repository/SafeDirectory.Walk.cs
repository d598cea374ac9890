using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace BackupTools.Engine.Repository;

/// <summary>
/// Opening a directory by walking its path one name at a time, each looked up in the directory opened before it and
/// none followed blindly: a symlink on the way is followed only where no other account could have put it there, and a
/// directory another account can write (not sticky) is refused, because that account could swap the next name on the
/// path for a symlink or another directory between any check and its use. What the walk ends on is the directory itself,
/// held by its handle, so whatever happens to its path afterwards changes nothing.
/// </summary>
public sealed unsafe partial class SafeDirectory
{
    private const int ELOOP = 40, ENOTDIR = 20, EEXIST = 17, MaxSymlinks = 40;

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static partial int FStat(int fd, byte* buffer);

    [LibraryImport("libc", EntryPoint = "fstatat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FStatAt(int dirFd, string name, byte* buffer, int flags);

    [LibraryImport("libc", EntryPoint = "readlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint ReadLinkAt(int dirFd, string name, byte* buffer, nint size);

    /// <summary>Test hook: called with a step name where a race would matter, so a test can swap things there.</summary>
    internal static Action<string>? PauseAt;

    internal static void Pause(string step) => PauseAt?.Invoke(step);

    /// <summary>
    /// Opens a directory for root to work in through its handle. Every directory on the path above it must be writable
    /// by root only (or sticky, as /tmp); a symlink on the path is followed only when the directory holding it is
    /// (/var/lib/redis -> /data/redis made by root is fine; a link in a home directory is not). The directory
    /// itself may belong to anyone: nothing is done in it by path.
    /// </summary>
    public static SafeDirectory OpenPath(string path, string what, bool create = false)
    {
        if (!Supported) throw new PlatformNotSupportedException("Opening a directory through handles needs Linux on x86-64 or arm64.");
        var full = System.IO.Path.GetFullPath(path);
        var pending = new Stack<string>(Enumerable.Reverse(full.Split('/', StringSplitOptions.RemoveEmptyEntries)));
        var current = Open("/");
        var hops = 0;
        try
        {
            while (pending.Count > 0)
            {
                var name = pending.Pop();
                if (name == ".") continue;
                if (IsRoot) RefuseIfOthersCanWrite(current, what, full);
                var fd = OpenAt(current._fd, name, OpenFlags.OpenDirectory, 0);
                if (fd < 0 && create && Marshal.GetLastPInvokeError() == ENOENT && name != "..")
                {
                    // Made here, relative to the handle, never through a link: Directory.CreateDirectory by path would follow one.
                    if (MkdirAt(current._fd, Check(name), 0x1ED /* 0755 */) != 0 && Marshal.GetLastPInvokeError() != EEXIST)
                        throw new IOException($"Cannot create '{System.IO.Path.Combine(current.Path, name)}' for {what}: {Error()}.");
                    fd = OpenAt(current._fd, name, OpenFlags.OpenDirectory, 0);
                }
                if (fd < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno is not (ELOOP or ENOTDIR) || current.LinkTarget(name) is not { } target)
                        throw new IOException($"Cannot open '{full}' for {what}: '{System.IO.Path.Combine(current.Path, name)}' {new Win32Exception(errno).Message}.");
                    if (++hops > MaxSymlinks) throw new IOException($"Cannot open '{full}' for {what}: too many symbolic links.");
                    // In a sticky directory (/tmp) anyone may make links: follow only root's.
                    if (IsRoot && current.StatEntry(name) is { Uid: not 0 } link)
                        throw new UnauthorizedAccessException(
                            $"Refusing {what}: '{System.IO.Path.Combine(current.Path, name)}' (on the path to '{full}') is a symlink made by uid {link.Uid}; give the real path.");
                    foreach (var part in Enumerable.Reverse(target.Split('/', StringSplitOptions.RemoveEmptyEntries))) pending.Push(part);
                    if (target.StartsWith('/'))
                    {
                        var root = Open("/");
                        current.Dispose();
                        current = root;
                    }
                    continue;
                }
                var next = new SafeDirectory(fd, name == ".." ? System.IO.Path.GetDirectoryName(current.Path) ?? "/" : System.IO.Path.Combine(current.Path, name));
                current.Dispose();
                current = next;
            }
            return current;
        }
        catch
        {
            current.Dispose();
            throw;
        }
    }

    /// <summary>
    /// For work that tools do by path (mariabackup --copy-back, chown -R): as root, the directory and every one above
    /// it must be writable by root only (or sticky); otherwise refuses, naming the directory and who can write it.
    /// </summary>
    public static void RefuseUnlessOnlyRootWrites(string path, string what)
    {
        if (!Supported || !IsRoot) return;
        using var directory = OpenPath(path, what);
        RefuseIfOthersCanWrite(directory, what, System.IO.Path.GetFullPath(path));
    }

    private static void RefuseIfOthersCanWrite(SafeDirectory directory, string what, string full)
    {
        var s = directory.Stat();
        if (WriterOtherThanRoot(s.Mode, s.Uid, s.Gid) is { } who)
            throw new UnauthorizedAccessException(
                $"Refusing {what}: '{directory.Path}' (on the path to '{full}') can be written by {who}, who could swap the " +
                "next directory on the path for a symlink mid-way. Run this as the account that owns it, or use a path " +
                "whose directories only root can write.");
    }

    /// <summary>
    /// Who besides root can change the entries of a directory of this mode and owner; null when nobody. An owner other
    /// than root counts whatever the mode says (it can chmod it back any time); a sticky directory of root's (/tmp) is
    /// safe for entries root makes, since others cannot rename or remove them.
    /// </summary>
    internal static string? WriterOtherThanRoot(uint mode, uint uid, uint gid)
    {
        const uint Sticky = 0x200, OtherWrite = 0x2, GroupWrite = 0x10;
        if (uid != 0) return $"its owner (uid {uid})";
        if ((mode & Sticky) != 0) return null;
        return (mode & OtherWrite) != 0 ? "every account"
            : (mode & GroupWrite) != 0 && gid != 0 ? $"group {gid}"
            : null;
    }

    /// <summary>Whether an open descriptor is a regular file (fstat: the file opened, not whatever the name holds now).</summary>
    private static bool IsRegularFile(int fd)
    {
        var buffer = stackalloc byte[256];
        return FStat(fd, buffer) == 0 && (Decode(buffer).Item1 & 0xF000) == 0x8000;
    }

    /// <summary>Mode, owner, device and inode of this directory (fstat on its handle).</summary>
    public (uint Mode, uint Uid, uint Gid, ulong Device, ulong Inode) Stat()
    {
        var buffer = stackalloc byte[256];
        if (FStat(_fd, buffer) != 0) throw new IOException($"Cannot stat '{Path}': {Error()}.");
        return Decode(buffer);
    }

    /// <summary>Mode, owner, device and inode of an entry (the entry itself, never a symlink's target); null when missing.</summary>
    public (uint Mode, uint Uid, uint Gid, ulong Device, ulong Inode)? StatEntry(string name)
    {
        var buffer = stackalloc byte[256];
        return FStatAt(_fd, Check(name), buffer, AT_SYMLINK_NOFOLLOW) != 0 ? null : Decode(buffer);
    }

    /// <summary>
    /// When a path's inode last changed (st_ctim, in ticks) and its inode number: what a cache keys on, since no call
    /// but a change of the entry itself can set the change time (utimes, touch -r, rsync -a and tar set the mtime only).
    /// Null where unsupported or missing.
    /// </summary>
    public static (long ChangeTicks, ulong Inode)? ChangeStamp(string path)
    {
        if (!Supported) return null;
        const int AtCurrentDirectory = -100;
        var b = stackalloc byte[256];
        if (FStatAt(AtCurrentDirectory, System.IO.Path.GetFullPath(path), b, 0) != 0) return null;
        // st_ctim is at 104 on both x86-64 and arm64 (seconds, then nanoseconds).
        var seconds = *(long*)(b + 104);
        var nanoseconds = *(long*)(b + 112);
        return (seconds * TimeSpan.TicksPerSecond + nanoseconds / 100, *(ulong*)(b + 8));
    }

    /// <summary>Whether the entry of this name is the very directory another handle holds (nobody swapped it).</summary>
    public bool IsSameAs(string name, SafeDirectory other) =>
        StatEntry(name) is { } e && other.Stat() is var o && e.Device == o.Device && e.Inode == o.Inode;

    private static (uint, uint, uint, ulong, ulong) Decode(byte* b)
    {
        // st_dev at 0 and st_ino at 8 on both; x86-64: st_mode 24, st_uid 28, st_gid 32; arm64: st_mode 16, st_uid 24, st_gid 28.
        var x64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;
        return (*(uint*)(b + (x64 ? 24 : 16)), *(uint*)(b + (x64 ? 28 : 24)), *(uint*)(b + (x64 ? 32 : 28)), *(ulong*)b, *(ulong*)(b + 8));
    }

    /// <summary>The target of a symlink in this directory, or null when the entry is not one.</summary>
    public string? LinkTarget(string name)
    {
        var buffer = new byte[4096];
        fixed (byte* p = buffer)
        {
            var n = ReadLinkAt(_fd, Check(name), p, buffer.Length);
            return n < 0 ? null : Encoding.UTF8.GetString(buffer, 0, (int)n);
        }
    }
}
