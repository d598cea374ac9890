namespace BackupTools.Engine.Repository;

/// <summary>A private working directory that hands out sub-directories.</summary>
public interface IScratchDirectory
{
    string Path { get; }
    /// <summary>Creates (0700) and returns a sub-directory.</summary>
    string Combine(string name);
}

/// <summary>
/// A private working directory under <c>&lt;repository&gt;/_scratch/</c> for extracting and preparing backups: on the
/// repository's file system (room for a whole database, unlike a small /tmp), removed on dispose, on failure too.
/// </summary>
public sealed class ScratchDirectory : IScratchDirectory, IDisposable
{
    public const string DirectoryName = "_scratch";

    private ScratchDirectory(string path) => Path = path;

    public string Path { get; }

    public static ScratchDirectory Create(string repositoryRoot, string name) => CreateIn(System.IO.Path.Combine(repositoryRoot, DirectoryName), name);

    /// <summary>
    /// A scratch directory under a directory of the policy's choosing (platform.scratch). It is removed by path, so as
    /// root every directory on the way must be writable by root only: refused otherwise, before anything is created.
    /// </summary>
    public static ScratchDirectory CreateUnder(string parent, string name)
    {
        var existing = System.IO.Path.GetFullPath(parent);
        while (!Directory.Exists(existing) && System.IO.Path.GetDirectoryName(existing) is { } up) existing = up;
        SafeDirectory.RefuseUnlessOnlyRootWrites(existing, $"to make a scratch directory under '{parent}'");
        FileModes.CreatePrivateDirectory(parent);
        SafeDirectory.RefuseUnlessOnlyRootWrites(parent, $"to make a scratch directory under '{parent}'");
        return CreateIn(parent, name);
    }

    /// <summary>
    /// Removes the scratch directories under a policy-chosen parent whose run is gone (a drill killed mid-way leaves a
    /// whole database copy): what retention does for &lt;repository&gt;/_scratch. The parent must be writable by root only.
    /// </summary>
    public static void SweepAbandoned(string parent, DateTime now, TimeSpan age, Action<string>? log)
    {
        if (!Directory.Exists(parent)) return;
        SafeDirectory.RefuseUnlessOnlyRootWrites(parent, $"to remove leftover scratch directories under '{parent}'");
        foreach (var dir in Directory.EnumerateDirectories(parent).Where(d => File.Exists(System.IO.Path.Combine(d, OwnerFile)) && IsAbandoned(d, now, age)))
        {
            Directory.Delete(dir, recursive: true);
            log?.Invoke($"Removed the leftover scratch directory '{dir}' (the run that made it is gone).");
        }
    }

    private static ScratchDirectory CreateIn(string parent, string name)
    {
        FileModes.CreatePrivateDirectory(parent);
        var path = System.IO.Path.Combine(parent, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        FileModes.CreatePrivateDirectory(path);
        // Who made it, so cleanup can tell a live run's scratch (of any target) from a crashed one's.
        using var me = System.Diagnostics.Process.GetCurrentProcess();
        var owner = new LockLease(Environment.MachineName, Environment.ProcessId, me.StartTime.ToUniversalTime(), DateTime.UtcNow, DateTime.MaxValue, "scratch");
        FileModes.WriteDurably(System.IO.Path.Combine(path, OwnerFile), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(owner, RepositoryJson.Default.LockLease));
        return new ScratchDirectory(path);
    }

    private const string OwnerFile = ".owner";

    /// <summary>
    /// A scratch directory whose owner process is gone (on this host), or, without an owner file (older versions),
    /// untouched for longer than <paramref name="age"/>. Another host's scratch is never judged abandoned.
    /// </summary>
    public static bool IsAbandoned(string directory, DateTime now, TimeSpan age)
    {
        LockLease? owner;
        try { owner = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(System.IO.Path.Combine(directory, OwnerFile)), RepositoryJson.Default.LockLease); }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or UnauthorizedAccessException) { owner = null; }
        if (owner is null) return now - Directory.GetLastWriteTimeUtc(directory) > age;
        if (owner.Host == Environment.MachineName) return !TargetLock.IsAlive(owner, now);
        // Another host's (a container that is gone, say): its process cannot be seen from here, so only a week of age tells.
        return now - owner.StartTime > TimeSpan.FromDays(7);
    }

    public string Combine(string name)
    {
        var path = System.IO.Path.Combine(Path, name);
        FileModes.CreatePrivateDirectory(path);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }
}
