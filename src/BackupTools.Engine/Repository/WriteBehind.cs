using System.Runtime.InteropServices;

namespace BackupTools.Engine.Repository;

/// <summary>
/// Starts the kernel writing a file's dirty pages while the stream is still arriving (Linux <c>sync_file_range</c>
/// with SYNC_FILE_RANGE_WRITE, which does not wait), so the fsync that makes a backup durable at the end finds little
/// left to do instead of the whole file. Elsewhere it does nothing and the final fsync does all the work.
/// </summary>
internal static unsafe class WriteBehind
{
    public const long Interval = 32L << 20;
    private const uint SyncFileRangeWrite = 2;

    private static readonly Lazy<nint> s_syncFileRange = new(() =>
        OperatingSystem.IsLinux() && NativeLibrary.TryLoad("libc.so.6", out var libc) &&
        NativeLibrary.TryGetExport(libc, "sync_file_range", out var export) ? export : 0);

    /// <summary>Hands the bytes written since <paramref name="from"/> to the kernel and starts their writeback.</summary>
    public static long Start(FileStream file, long from)
    {
        file.Flush();
        var to = file.Position;
        if (s_syncFileRange.Value != 0 && to > from)
        {
            var call = (delegate* unmanaged<int, long, long, uint, int>)s_syncFileRange.Value;
            _ = call((int)file.SafeFileHandle.DangerousGetHandle(), from, to - from, SyncFileRangeWrite); // advisory only
        }
        return to;
    }
}
