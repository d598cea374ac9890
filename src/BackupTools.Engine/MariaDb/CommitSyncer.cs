namespace BackupTools.Engine.MariaDb;

/// <summary>
/// <c>stream.sync: commit</c>: the file being received is fsynced as soon as it grows (inotify, through
/// FileSystemWatcher), so a transaction is on the stream's disk within milliseconds of reaching it, not within the
/// second the default sync allows. Changes that arrive while a sync runs are covered by one more sync after it: the
/// cost follows the disk's fsync rate, not the number of transactions.
/// </summary>
internal static class CommitSyncer
{
    public static async Task RunAsync(string directory, Action sync, CancellationToken ct)
    {
        using var changed = new SemaphoreSlim(0, 1);
        using (var watcher = new FileSystemWatcher(directory) { NotifyFilter = NotifyFilters.Size | NotifyFilters.LastWrite | NotifyFilters.FileName })
        {
            void Signal(object? _, FileSystemEventArgs e)
            {
                if (e.Name is null || e.Name.StartsWith('.') || e.Name == BinlogStreamState.FileName) return; // our own state file
                try { changed.Release(); } catch (SemaphoreFullException) { } // a sync is already due: it covers this change too
            }
            watcher.Changed += Signal;
            watcher.Created += Signal;
            watcher.EnableRaisingEvents = true;
            try
            {
                while (true)
                {
                    await changed.WaitAsync(ct);
                    sync();
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        }
    }
}
