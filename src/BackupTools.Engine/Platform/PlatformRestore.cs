using System.Diagnostics;
using BackupTools.Engine.Engines;
using BackupTools.Model;

namespace BackupTools.Engine.Platform;

/// <summary>
/// Runs the parts of a planned platform restore in two phases. First every part that lands in a new location: the
/// parts of one group (one server) one after another, the groups in parallel. Then, only when all of those succeeded,
/// the parts that replace live data, one at a time in the plan's order, stopping at the first that fails: each
/// engine leaves its own live data as it was when its part fails, so a failure leaves every later live part untouched
/// and the result says exactly which live parts were replaced. Then, when every part succeeded, the validation of the
/// whole with every part's location. A part that fails in the first phase does not stop the other new-location parts,
/// so one result tells everything that did and did not come back.
/// </summary>
public static class PlatformRestore
{
    /// <param name="validateWhole">Gets every part's location (part name → where it landed); false or an exception fails the whole.</param>
    public static async Task<PlatformRestoreResult> RunAsync(DateTime asOf, IReadOnlyList<PlatformPartRunner> parts, string? destination,
        Func<IReadOnlyDictionary<string, string>, Task<bool>>? validateWhole, Func<PlatformPartRunner, EngineCallbacks> callbacks,
        string? policyPath, bool drill, CancellationToken ct)
    {
        if (parts.FirstOrDefault(p => p.Plan.Problem is not null) is { } bad)
            throw new InvalidOperationException($"Part {bad.Plan.Part} cannot be restored to {asOf:u}: {bad.Plan.Problem}");
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        var done = new List<PlatformPartResult>();
        var aside = parts.Where(p => !p.Plan.Replace).ToList();
        var groups = aside.GroupBy(p => p.Plan.Group, StringComparer.Ordinal)
            .Select(g => Task.Run(async () =>
            {
                var results = new List<PlatformPartResult>();
                foreach (var part in g) results.Add(await RunPartAsync(asOf, part, callbacks(part), ct));
                return results;
            }, ct)).ToList();
        done.AddRange((await Task.WhenAll(groups)).SelectMany(r => r));
        string? stopped = done.FirstOrDefault(r => !r.Succeeded) is { } first ? $"part {first.Part} failed" : null;
        foreach (var part in parts.Where(p => p.Plan.Replace))
        {
            if (stopped is not null)
            {
                done.Add(NotRun(part, $"not run: {stopped}, so its live data was left as it was"));
                continue;
            }
            var result = await RunPartAsync(asOf, part, callbacks(part), ct);
            done.Add(result);
            if (result.Succeeded) callbacks(part).Warn?.Invoke($"live data replaced: {part.Plan.Destination} now holds {part.Plan.Part} as of {result.LandsAt:u}.");
            else stopped = $"replacing {part.Plan.Part} failed";
        }
        ct.ThrowIfCancellationRequested();
        // In the order the plan lists them, whatever finished first.
        var ordered = parts.Select(p => done.First(r => r.Part == p.Plan.Part && r.Kind == p.Plan.Kind)).ToList();
        bool? validated = null;
        string? error = ordered.FirstOrDefault(r => !r.Succeeded) is { } failed ? $"Part {failed.Part} failed: {failed.Error}" : null;
        if (error is null && validateWhole is not null)
        {
            var locations = ordered.ToDictionary(r => r.Part, r => r.Destination ?? "", StringComparer.Ordinal);
            try
            {
                validated = await validateWhole(locations);
                if (validated != true) error = "The validation of the whole platform returned false.";
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                validated = false;
                error = $"The validation of the whole platform failed: {e.Message}";
            }
        }
        return new PlatformRestoreResult
        {
            AsOf = asOf, Succeeded = error is null, Parts = ordered, Started = started, Duration = clock.Elapsed, Validated = validated,
            Error = error, Destination = destination, Drill = drill, PolicyPath = policyPath,
        };
    }

    private static PlatformPartResult NotRun(PlatformPartRunner part, string why) => new()
    {
        Part = part.Plan.Part, Kind = part.Plan.Kind, Engine = part.Plan.Engine, Succeeded = false, LandsAt = part.Plan.LandsAt, Offset = part.Plan.Offset,
        Destination = part.Plan.Destination, Started = DateTime.UtcNow, Duration = TimeSpan.Zero, Bytes = part.Plan.Bytes, Error = why, Ran = false,
    };

    private static async Task<PlatformPartResult> RunPartAsync(DateTime asOf, PlatformPartRunner part, EngineCallbacks callbacks, CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        var plan = part.Plan;
        try
        {
            var (validated, detail) = await part.RunAsync!(callbacks, ct);
            return Result(true, validated, detail, null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            callbacks.Warn?.Invoke($"Part {plan.Part} of the platform restore failed: {e.Message}");
            return Result(false, false, null, e.Message);
        }

        // Where the engine says it landed, when it says (a snapshot engine chooses its snapshot again as it runs; should
        // retention have removed the planned one meanwhile, the result tells the truth, not the plan).
        PlatformPartResult Result(bool ok, bool validated, object? detail, string? error)
        {
            var landed = detail is RestoreResult r ? r.RestoredTo ?? r.PointInTime : plan.LandsAt;
            return Make(ok, validated, detail, error, landed);
        }

        PlatformPartResult Make(bool ok, bool validated, object? detail, string? error, DateTime? landed) => new()
        {
            Part = plan.Part, Kind = plan.Kind, Engine = plan.Engine, Succeeded = ok, LandsAt = landed, Offset = landed - asOf,
            Destination = detail is RestoreResult r ? r.Destination : plan.Destination,
            Started = started, Duration = clock.Elapsed, Validated = validated, Bytes = plan.Bytes, Error = error, Detail = detail,
        };
    }
}
