using System.Diagnostics;
using BackupTools.Model;

namespace BackupTools.Engine.Core;

/// <summary>
/// A restore's named steps, in order: each start is told to the caller (progress) and, when asked, logged; each is
/// timed; and the current one is known, so an error can say at which step it stopped.
/// </summary>
public sealed class StepRunner(Action<string>? started, Action<string>? log = null)
{
    private readonly List<RestoreStep> _done = [];
    private readonly Stopwatch _clock = new();
    private bool _open;

    /// <summary>The step running now (or the last one), for error messages.</summary>
    public string Current { get; private set; } = "";

    /// <summary>The steps that ended, with their durations.</summary>
    public IReadOnlyList<RestoreStep> Done => _done;

    /// <summary>Starts a step, ending the one before.</summary>
    public void Begin(string name)
    {
        End();
        Current = name;
        started?.Invoke(name);
        log?.Invoke($"Step: {name}");
        _clock.Restart();
        _open = true;
    }

    /// <summary>Ends the current step (its time is recorded); nothing when none runs.</summary>
    public void End()
    {
        if (!_open) return;
        _done.Add(new RestoreStep(Current, _clock.Elapsed));
        _open = false;
    }

    public async Task<T> RunAsync<T>(string name, Func<Task<T>> work)
    {
        Begin(name);
        var result = await work();
        End();
        return result;
    }

    public Task RunAsync(string name, Func<Task> work) => RunAsync(name, async () => { await work(); return 0; });
}
