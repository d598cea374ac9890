using System.Runtime.InteropServices;

namespace BackupTools.Engine.Repository;

/// <summary>
/// What kind of file a path is, read with lstat(2) (never following a symlink), which .NET does not expose: a FIFO
/// looks like a file to .NET, and opening one blocks until a writer comes (a job that hangs holding its lock).
/// </summary>
internal static unsafe partial class FileKinds
{
    public enum Kind { Missing, Regular, Directory, Symlink, Other }

    [LibraryImport("libc", EntryPoint = "lstat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LStat(string path, byte* buffer);

    /// <summary>Owner and permission bits of a path (lstat: a symlink's own), or null when it cannot be read.</summary>
    public static (uint Mode, uint Uid, uint Gid)? Stat(string path)
    {
        if (!OpenFlags.Supported) return null;
        var buffer = stackalloc byte[256];
        if (LStat(path, buffer) != 0) return null;
        // x86-64: st_mode at 24, st_uid 28, st_gid 32; arm64: st_mode 16, st_nlink 20, st_uid 24, st_gid 28.
        var x64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;
        return (*(uint*)(buffer + (x64 ? 24 : 16)), *(uint*)(buffer + (x64 ? 28 : 24)), *(uint*)(buffer + (x64 ? 32 : 28)));
    }

    public static Kind Of(string path)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
            return File.Exists(path) ? Kind.Regular : Directory.Exists(path) ? Kind.Directory : Kind.Missing;
        var buffer = stackalloc byte[256]; // struct stat is 144 (x86-64) or 128 (arm64) bytes
        if (LStat(path, buffer) != 0) return Kind.Missing;
        // st_mode: after st_dev, st_ino, st_nlink (8 bytes each) on x86-64; after st_dev, st_ino on arm64.
        var mode = *(uint*)(buffer + (RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24 : 16));
        return (mode & 0xF000) switch
        {
            0x8000 => Kind.Regular,
            0x4000 => Kind.Directory,
            0xA000 => Kind.Symlink,
            _ => Kind.Other, // FIFO, socket, character or block device
        };
    }

    /// <summary>What one lstat(2) says of a file: its kind, permission bits, size, modification time and inode.</summary>
    public readonly record struct Status(Kind Kind, int Permissions, long Size, DateTime Modified, ulong Inode);

    /// <summary>
    /// One lstat of a path, everything a backup's walk needs from it (a training-data tree of 200,000 files paid for a
    /// stat per question before: kind, size, then mode and time). Null when it is gone. Elsewhere than Linux on x86-64
    /// or arm64: from FileInfo, inode 0 (unknown).
    /// </summary>
    public static Status? LStatus(string path)
    {
        if (!OpenFlags.Supported)
        {
            var info = new FileInfo(path);
            if (!info.Exists) return Directory.Exists(path) ? new Status(Kind.Directory, 0, 0, default, 0) : null;
            return new Status(info.LinkTarget is not null ? Kind.Symlink : Kind.Regular, 0x1A4, info.Length, info.LastWriteTimeUtc, 0);
        }
        var b = stackalloc byte[256];
        if (LStat(path, b) != 0) return null;
        var mode = *(uint*)(b + (RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24 : 16));
        var kind = (mode & 0xF000) switch { 0x8000 => Kind.Regular, 0x4000 => Kind.Directory, 0xA000 => Kind.Symlink, _ => Kind.Other };
        // st_ino at 8, st_size at 48, st_mtim at 88 (seconds, nanoseconds) on both; the time as .NET's FileInfo computes it.
        var modified = DateTime.UnixEpoch.AddTicks(*(long*)(b + 88) * TimeSpan.TicksPerSecond + *(long*)(b + 96) / 100);
        return new Status(kind, (int)(mode & 0xFFF), *(long*)(b + 48), modified, *(ulong*)(b + 8));
    }
}
