using System.Diagnostics;
using BackupTools.Engine.Engines;
using BackupTools.Model;

namespace BackupTools.Engine.Platform;

/// <summary>
/// Runs the parts of a planned platform restore: the parts of one group (one server) one after another, the groups in
/// parallel; then, when every part succeeded, the validation of the whole with every part's location. A part that fails
/// leaves its own live data as its engine guarantees (a new location is simply not finished); the other parts go on, so
/// one result tells everything that did and did not come back.
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
        var groups = parts.GroupBy(p => p.Plan.Group, StringComparer.Ordinal)
            .Select(g => Task.Run(async () =>
            {
                var results = new List<PlatformPartResult>();
                foreach (var part in g) results.Add(await RunPartAsync(asOf, part, callbacks(part), ct));
                return results;
            }, ct)).ToList();
        var done = (await Task.WhenAll(groups)).SelectMany(r => r).ToList();
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

        PlatformPartResult Result(bool ok, bool validated, object? detail, string? error) => new()
        {
            Part = plan.Part, Kind = plan.Kind, Engine = plan.Engine, Succeeded = ok, LandsAt = plan.LandsAt, Offset = plan.Offset,
            Destination = detail is RestoreResult r ? r.Destination : plan.Destination,
            Started = started, Duration = clock.Elapsed, Validated = validated, Bytes = plan.Bytes, Error = error, Detail = detail,
        };
    }
}
