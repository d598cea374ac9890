using System.Diagnostics;
using System.Text.Json;

namespace BackupTools.Engine.Repository;

/// <summary>Who holds a target's lock and until when (the lease); stored as JSON in the lock file.</summary>
public sealed record LockLease(string Host, int ProcessId, DateTime ProcessStartTime, DateTime StartTime, DateTime Expires, string RunId);

/// <summary>Another live run holds the target (or is taking over its stale lock at this moment: no lease yet).</summary>
/// <param name="target">The target as a message names it, quoted: <c>'main-db'</c> or <c>'main-db' (binlog)</c>.</param>
public sealed class TargetLockedException(string target, LockLease? lease) : Exception(lease is null
    ? $"Target {target} is busy: another run is taking over its lock at this moment. Try again in a minute."
    : $"Target {target} is busy: a run on host {lease.Host} (process {lease.ProcessId}) has held it since " +
      $"{lease.StartTime:u}. Wait for it to finish. If that process is gone, its lock is taken over automatically " +
      $"(at once on the same host, after the lease ends at {lease.Expires:u} from another host).")
{
    public LockLease? Lease { get; } = lease;
}

/// <summary>
/// A per-target lock held as a lease. A second run on the same target fails fast and names the holder; a lock whose
/// owner is dead (same host) or whose lease ran out (any host) is taken over and the takeover is reported. The lease
/// is renewed while the run lasts, so a long backup keeps it and a crashed one loses it.
/// </summary>
public sealed class TargetLock : IAsyncDisposable
{
    public const string DirectoryName = "_locks";
    public static readonly TimeSpan DefaultLease = TimeSpan.FromMinutes(15);

    private readonly string _path;
    private readonly TimeSpan _lease;
    private readonly Timer _renewal;
    private LockLease _current;

    private TargetLock(string path, LockLease lease, TimeSpan leaseLength)
    {
        _path = path;
        _current = lease;
        _lease = leaseLength;
        _renewal = new Timer(_ => Renew(), null, leaseLength / 3, leaseLength / 3);
    }

    public LockLease Lease => _current;

    /// <summary>Lock scope prefix of the leases restores hold while they read a target's sets (retention waits for them).</summary>
    public const string ReaderScope = "reader-";

    /// <summary>A reader lease: many restores may hold one at once; retention leaves the target's sets alone meanwhile (barman PR #980).</summary>
    public static TargetLock AcquireReader(string repositoryRoot, string engine, string target) =>
        Acquire(repositoryRoot, engine, target, scope: ReaderScope + Guid.NewGuid().ToString("N")[..8]);

    /// <param name="onTakeover">Told about a stale lock that was taken over (for the log).</param>
    /// <param name="scope">Names a lock beside the target's main one, for work that may run alongside it (binary log archiving).</param>
    public static TargetLock Acquire(string repositoryRoot, string engine, string target, Action<string>? onTakeover = null,
        TimeSpan? lease = null, DateTime? now = null, string? scope = null)
    {
        var length = lease ?? DefaultLease;
        var dir = Path.Combine(repositoryRoot, DirectoryName);
        FileModes.CreatePrivateDirectory(dir);
        var path = Path.Combine(dir, scope is null ? $"{engine}-{target}.lock" : $"{engine}-{target}~{scope}.lock");
        var who = scope is null ? $"'{target}'" : $"'{target}' ({scope})";
        var mine = NewLease(length, now ?? DateTime.UtcNow);

        if (TryCreate(path, mine)) return new TargetLock(path, mine, length);

        // Someone holds or held it. Decide under a short guard so two runs cannot both take over one stale lock.
        var guard = path + ".takeover";
        RemoveAbandonedGuard(guard);
        FileStream guardFile;
        try { guardFile = FileModes.CreatePrivateFile(guard, bufferSize: 0); }
        catch (IOException) when (File.Exists(guard))
        {
            // Another run is deciding right now: name the holder only if it is really alive.
            var current = Read(path);
            throw new TargetLockedException(who, current is not null && IsAlive(current, now ?? DateTime.UtcNow) ? current : null);
        }
        using (guardFile)
        {
            try
            {
                var holder = Read(path);
                if (holder is not null && IsAlive(holder, now ?? DateTime.UtcNow))
                    throw new TargetLockedException(who, holder);
                if (holder is not null)
                    onTakeover?.Invoke(
                        $"Took over the lock of target {who} from host {holder.Host} process {holder.ProcessId} " +
                        $"(started {holder.StartTime:u}): " +
                        (holder.Host == Environment.MachineName && !ProcessExists(holder) ? "that process is gone." : $"its lease ended at {holder.Expires:u}."));
                File.Delete(path);
                if (!TryCreate(path, mine))
                    throw new TargetLockedException(who, Read(path));
                return new TargetLock(path, mine, length);
            }
            finally
            {
                File.Delete(guard);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _renewal.DisposeAsync();
        lock (_renewal)
        {
            // Only remove the lock if it is still ours (a lease that ran out may have been taken over).
            if (Read(_path)?.RunId == _current.RunId) File.Delete(_path);
        }
    }

    private void Renew()
    {
        lock (_renewal)
        {
            try
            {
                if (Read(_path)?.RunId != _current.RunId) return;
                var renewed = _current with { Expires = DateTime.UtcNow + _lease };
                var temp = _path + "." + _current.RunId + ".tmp";
                FileModes.WriteDurably(temp, JsonSerializer.SerializeToUtf8Bytes(renewed, RepositoryJson.Default.LockLease), FileMode.Create);
                File.Move(temp, _path, overwrite: true);
                _current = renewed;
            }
            catch (IOException) { /* next tick tries again; the lease is three ticks long */ }
        }
    }

    private static LockLease NewLease(TimeSpan length, DateTime now)
    {
        using var self = Process.GetCurrentProcess();
        return new LockLease(Environment.MachineName, self.Id, self.StartTime.ToUniversalTime(), now, now + length,
            Guid.NewGuid().ToString("N"));
    }

    private static bool TryCreate(string path, LockLease lease)
    {
        try
        {
            FileModes.WriteDurably(path, JsonSerializer.SerializeToUtf8Bytes(lease, RepositoryJson.Default.LockLease));
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }
    }

    /// <summary>
    /// The live holder of any lock of the target whose scope starts with <paramref name="scopePrefix"/> (e.g. the
    /// reader leases restores take), or null. Retention asks this before deleting what a restore may be reading.
    /// </summary>
    public static LockLease? LiveHolder(string repositoryRoot, string engine, string target, string scopePrefix, DateTime? now = null)
    {
        var dir = Path.Combine(repositoryRoot, DirectoryName);
        if (!Directory.Exists(dir)) return null;
        foreach (var file in Directory.EnumerateFiles(dir, $"{engine}-{target}~{scopePrefix}*.lock"))
            if (Read(file) is { } lease && IsAlive(lease, now ?? DateTime.UtcNow))
                return lease;
        return null;
    }

    /// <summary>The live holder of one lock (the main one when <paramref name="scope"/> is null), or null.</summary>
    public static LockLease? Holder(string repositoryRoot, string engine, string target, string? scope, DateTime? now = null)
    {
        var path = Path.Combine(repositoryRoot, DirectoryName, scope is null ? $"{engine}-{target}.lock" : $"{engine}-{target}~{scope}.lock");
        return Read(path) is { } lease && IsAlive(lease, now ?? DateTime.UtcNow) ? lease : null;
    }

    private static LockLease? Read(string path)
    {
        try { return JsonSerializer.Deserialize(File.ReadAllBytes(path), RepositoryJson.Default.LockLease); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; } // no lock was ever taken in this repository
        catch (JsonException)
        {
            // A lock file torn by a crash between create and write holds nobody.
            return null;
        }
    }

    internal static bool IsAlive(LockLease lease, DateTime now)
    {
        if (lease.Expires <= now) return false;
        // On our own host we can see whether the owner still runs; elsewhere only the lease tells.
        return lease.Host != Environment.MachineName || ProcessExists(lease);
    }

    private static bool ProcessExists(LockLease lease)
    {
        try
        {
            using var p = Process.GetProcessById(lease.ProcessId);
            // A reused PID belongs to a process that started later than the owner did.
            return !p.HasExited && Math.Abs((p.StartTime.ToUniversalTime() - lease.ProcessStartTime).TotalSeconds) < 2;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>A guard left by a crash in the few milliseconds of a takeover must not block the target forever.</summary>
    private static void RemoveAbandonedGuard(string guard)
    {
        try
        {
            if (File.Exists(guard) && DateTime.UtcNow - File.GetLastWriteTimeUtc(guard) > TimeSpan.FromMinutes(1))
                File.Delete(guard);
        }
        catch (IOException) { }
    }
}
