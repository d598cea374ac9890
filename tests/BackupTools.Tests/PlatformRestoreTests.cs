using BackupTools.Engine.Engines;
using BackupTools.Engine.Platform;
using BackupTools.Model;

namespace BackupTools.Tests;

/// <summary>The order a platform restore runs its parts in: new locations in parallel first, replacements one at a time after.</summary>
public sealed class PlatformRestoreTests
{
    private static readonly DateTime Point = new(2026, 11, 29, 12, 0, 0, DateTimeKind.Utc);

    private static PlatformPartRunner Part(string name, string group, bool replace, Func<Task> run, List<string>? log = null) => new()
    {
        Plan = new PlatformPartPlan { Part = name, Kind = PlatformPartKind.Target, Engine = "test", Group = group, Replace = replace, LandsAt = Point, Destination = "/x/" + name },
        What = "restore " + name,
        RunAsync = async (_, _) =>
        {
            log?.Add("start " + name);
            await run();
            log?.Add("end " + name);
            return (true, null);
        },
    };

    private static Task<PlatformRestoreResult> Run(params PlatformPartRunner[] parts) =>
        PlatformRestore.RunAsync(Point, parts, "/x", null, _ => new EngineCallbacks(), null, drill: false, CancellationToken.None);

    [Fact]
    public async Task PartsOnDifferentServersRunAtTheSameTimeAndPartsOnOneServerOneAfterAnother()
    {
        // a and b each wait for the other to have started: run one after the other, the first would wait in vain.
        var aStarted = new TaskCompletionSource();
        var bStarted = new TaskCompletionSource();
        var aEnded = false;
        var cSawAEnded = false;
        var r = await Run(
            Part("a", "server 1", false, async () => { aStarted.SetResult(); await bStarted.Task.WaitAsync(TimeSpan.FromSeconds(10)); aEnded = true; }),
            Part("b", "server 2", false, async () => { bStarted.SetResult(); await aStarted.Task.WaitAsync(TimeSpan.FromSeconds(10)); }),
            Part("c", "server 1", false, () => { cSawAEnded = aEnded; return Task.CompletedTask; }));
        Assert.True(r.Succeeded, r.Error);
        Assert.Equal(["a", "b", "c"], r.Parts.Select(p => p.Part));
        Assert.True(cSawAEnded, "c shares a's server: it starts only after a ended");
    }

    [Fact]
    public async Task ReplacementsRunAfterEveryNewLocationPartOneAtATimeAndStopAtTheFirstFailure()
    {
        var log = new List<string>();
        var r = await Run(Part("live-1", "s1", true, () => Task.Delay(50), log), Part("aside", "s2", false, () => Task.Delay(200), log),
            Part("live-2", "s3", true, () => throw new IOException("the swap was refused"), log), Part("live-3", "s4", true, () => Task.CompletedTask, log));
        Assert.Equal(["start aside", "end aside", "start live-1", "end live-1", "start live-2"], log);
        Assert.False(r.Succeeded);
        var byName = r.Parts.ToDictionary(p => p.Part);
        Assert.True(byName["live-1"].Succeeded);
        Assert.Equal((false, true), (byName["live-2"].Succeeded, byName["live-2"].Ran));
        Assert.Contains("the swap was refused", byName["live-2"].Error, StringComparison.Ordinal);
        Assert.Equal((false, false), (byName["live-3"].Succeeded, byName["live-3"].Ran));
        Assert.Contains("replacing live-2 failed", byName["live-3"].Error, StringComparison.Ordinal);
        Assert.Contains("Part live-2 failed", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ANewLocationPartThatFailsLeavesEveryLivePartUntouched()
    {
        var log = new List<string>();
        var r = await Run(Part("aside", "s1", false, () => throw new InvalidDataException("dump damaged"), log), Part("other", "s2", false, () => Task.CompletedTask, log),
            Part("live", "s3", true, () => Task.CompletedTask, log));
        Assert.DoesNotContain("start live", log);
        Assert.Contains("start other", log); // the other new-location part still came back
        var live = r.Parts.Single(p => p.Part == "live");
        Assert.False(live.Ran);
        Assert.Contains("part aside failed", live.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ThePlanOfAPartThatCannotReachThePointStopsEverythingBeforeItStarts()
    {
        var started = false;
        var bad = Part("a", "s1", false, () => { started = true; return Task.CompletedTask; }) with { };
        bad = bad with { Plan = bad.Plan with { Problem = "no snapshot that old" } };
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Run(bad, Part("b", "s2", false, () => { started = true; return Task.CompletedTask; })));
        Assert.Contains("no snapshot that old", e.Message, StringComparison.Ordinal);
        Assert.False(started);
    }
}
