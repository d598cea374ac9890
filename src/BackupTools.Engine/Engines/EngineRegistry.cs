using BackupTools.Model;

namespace BackupTools.Engine.Engines;

/// <summary>
/// Every engine, in one place. Adding an engine is one class implementing <see cref="ITargetEngine"/> (or
/// <see cref="IBackupEngine"/>) and one line here (or <see cref="Register"/>, which tests use for a fake one).
/// </summary>
public static class EngineRegistry
{
    private static readonly object Gate = new();
    private static IReadOnlyList<IBackupEngine> s_all = [new MariaDbEngine(), new RedisEngine(), new ElasticsearchEngine(), new ModelsEngine()];

    public static IReadOnlyList<IBackupEngine> All => s_all;

    public static IEnumerable<ITargetEngine> Targets => s_all.OfType<ITargetEngine>();

    public static ITargetEngine For(TargetPolicy target) => For(target.Engine);

    public static ITargetEngine For(TargetEngine kind) =>
        Targets.FirstOrDefault(e => e.Kind == kind) ?? throw new NotSupportedException($"No engine handles {kind} targets.");

    /// <summary>The engine whose sets live under this repository directory (a record's or manifest's Engine), or null.</summary>
    public static IBackupEngine? ForName(string name) => s_all.FirstOrDefault(e => e.Name == name);

    /// <summary>Adds an engine (a test's fake one); a later registration for the same kind or name wins.</summary>
    public static void Register(IBackupEngine engine)
    {
        lock (Gate)
            s_all = [engine, .. s_all.Where(e => e.Name != engine.Name && !(e is ITargetEngine t && engine is ITargetEngine n && t.Kind == n.Kind))];
    }

    /// <summary>Puts the built-in engines back (after a test registered a fake).</summary>
    public static void Reset()
    {
        lock (Gate) s_all = [new MariaDbEngine(), new RedisEngine(), new ElasticsearchEngine(), new ModelsEngine()];
    }
}
