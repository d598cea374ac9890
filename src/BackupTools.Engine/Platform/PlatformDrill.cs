using BackupTools.Model;

namespace BackupTools.Engine.Platform;

/// <summary>What a drill decides before it restores: its point, and the result of a drill that could not start.</summary>
public static class PlatformDrill
{
    /// <summary>A point of the window, uniformly, to the whole second (binary-log time has one-second resolution).</summary>
    public static DateTime RandomPoint((DateTime From, DateTime To) window, Random random)
    {
        var span = window.To - window.From;
        var point = window.From + TimeSpan.FromTicks((long)(span.Ticks * random.NextDouble()));
        var second = new DateTime(point.Ticks - point.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        return second < window.From ? window.From : second;
    }

    /// <summary>
    /// A failed drill result for a drill that never restored anything: no common window (<paramref name="error"/>), or
    /// parts that cannot reach the point (each such part failed with its reason, the others not run).
    /// </summary>
    public static PlatformRestoreResult CouldNotStart(BackupPolicy policy, DateTime started, DateTime asOf, string? error, IReadOnlyList<PlatformPartPlan>? parts = null)
    {
        var results = (parts ?? []).Select(p => new PlatformPartResult
        {
            Part = p.Part, Kind = p.Kind, Engine = p.Engine, Succeeded = false, Started = started, Duration = TimeSpan.Zero,
            LandsAt = p.LandsAt, Offset = p.Offset, Bytes = p.Bytes,
            Error = p.Problem ?? "not run: another part cannot be restored to this point", Ran = p.Problem is not null,
        }).ToList();
        error ??= string.Join(" ", results.Where(r => r.Ran).Select(r => $"{r.Part} cannot be restored to {asOf:u}: {r.Error}"));
        return new PlatformRestoreResult
        {
            AsOf = asOf, Succeeded = false, Parts = results, Started = started, Duration = DateTime.UtcNow - started, Error = error, Drill = true, PolicyPath = policy.Path,
        };
    }
}
