using System.ComponentModel;
using System.Runtime.InteropServices;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// Renames between directories opened with O_NOFOLLOW, through renameat2(2): RENAME_EXCHANGE swaps two directories in
/// one atomic step (no moment without a data directory at the live path), RENAME_NOREPLACE never overwrites, and the
/// parents are fsynced so the new names survive a power cut. Linux only; elsewhere <see cref="Supported"/> is false.
/// </summary>
internal static partial class DirectoryExchange
{
    private const uint RenameNoReplace = 1, RenameExchange = 2;
    private const int EINVAL = 22, ENOSYS = 38;

    public static bool Supported => Repository.OpenFlags.Supported;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int oldDirFd, string oldName, int newDirFd, string newName, uint flags);

    /// <summary>Swaps two directories atomically; false when the file system cannot (EINVAL), so the caller falls back.</summary>
    public static bool TryExchange(string a, string b) => Rename(a, b, RenameExchange, allowUnsupported: true);

    /// <summary>Renames, refusing to replace anything at <paramref name="to"/>.</summary>
    public static void MoveNoReplace(string from, string to) => Rename(from, to, RenameNoReplace, allowUnsupported: false);

    private static bool Rename(string from, string to, uint flags, bool allowUnsupported)
    {
        from = Path.GetFullPath(from).TrimEnd('/');
        to = Path.GetFullPath(to).TrimEnd('/');
        var fromParent = OpenParent(from);
        try
        {
            var toParent = OpenParent(to);
            try
            {
                if (RenameAt2(fromParent, Path.GetFileName(from), toParent, Path.GetFileName(to), flags) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (allowUnsupported && errno is EINVAL or ENOSYS) return false;
                    throw new IOException($"Could not rename '{from}' to '{to}': {new Win32Exception(errno).Message}.");
                }
                Fsync(toParent);
                if (Path.GetDirectoryName(from) != Path.GetDirectoryName(to)) Fsync(fromParent);
                return true;
            }
            finally { Close(toParent); }
        }
        finally { Close(fromParent); }
    }

    private static int OpenParent(string path)
    {
        var parent = Path.GetDirectoryName(path) ?? "/";
        var fd = Open(parent, Repository.OpenFlags.OpenDirectory);
        if (fd < 0)
            throw new IOException($"Could not open the directory '{parent}' (no symlinks followed): {new Win32Exception(Marshal.GetLastPInvokeError()).Message}.");
        return fd;
    }
}
