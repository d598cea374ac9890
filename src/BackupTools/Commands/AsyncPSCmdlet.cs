using System.Collections.Concurrent;
using System.Management.Automation;
using BackupTools.Engine.Repository;

namespace BackupTools.Commands;

/// <summary>
/// Base for cmdlets whose work is async engine calls. The work runs on the thread pool with a token that
/// <see cref="StopProcessing"/> (Ctrl+C, a runbook stop) cancels; everything that must touch the pipeline
/// (WriteObject, WriteError, WriteProgress, WriteVerbose, ShouldProcess) is queued back to the pipeline thread,
/// which drains the queue until the work ends. Modelled on OpenAuthenticode's AsyncPSCmdlet.
/// </summary>
public abstract class AsyncPSCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private BlockingCollection<Action>? _queue;

    /// <summary>Cancelled when the user or host stops the pipeline.</summary>
    protected CancellationToken CancelToken => _cancel.Token;

    protected virtual Task BeginProcessingAsync() => Task.CompletedTask;
    protected virtual Task ProcessRecordAsync() => Task.CompletedTask;
    protected virtual Task EndProcessingAsync() => Task.CompletedTask;

    /// <summary>Runs on the pipeline thread before each record's async work: resolve paths and session state here.</summary>
    protected virtual void PrepareRecord() { }

    protected sealed override void BeginProcessing()
    {
        Run(BeginProcessingAsync);
    }
    protected sealed override void ProcessRecord()
    {
        PrepareRecord();
        Run(ProcessRecordAsync);
    }
    protected sealed override void EndProcessing() => Run(EndProcessingAsync);
    protected override void StopProcessing() => _cancel.Cancel();

    /// <summary>
    /// Whether this call runs under -WhatIf (given, or $WhatIfPreference): then the engine's caches (the catalog index,
    /// the journal's copies) are read but never written, so a what-if leaves every file as it was.
    /// </summary>
    private bool WhatIfInEffect =>
        MyInvocation.BoundParameters.TryGetValue("WhatIf", out var given)
            ? given is SwitchParameter { IsPresent: true } || given is true
            : LanguagePrimitives.IsTrue(SessionState.PSVariable.GetValue("WhatIfPreference"));

    private void Run(Func<Task> work)
    {
        using var queue = new BlockingCollection<Action>();
        _queue = queue;
        var readOnly = WhatIfInEffect;
        var task = Task.Run(async () =>
        {
            // Set inside the task: it flows to everything the work starts, and to nothing outside it.
            BackupTools.Engine.Repository.RepositoryCaches.ReadOnly = readOnly;
            try { await work(); }
            finally { queue.CompleteAdding(); }
        });
        try
        {
            foreach (var action in queue.GetConsumingEnumerable()) action();
        }
        catch
        {
            // The host is stopping us, or a write failed terminally: stop the work too, then let PowerShell unwind.
            _cancel.Cancel();
            task.ContinueWith(_ => { }, TaskScheduler.Default).Wait();
            throw;
        }
        finally
        {
            _queue = null;
        }
        try
        {
            task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            // Engine failures become one terminating error record, raised on the pipeline thread.
            ThrowTerminatingError(EngineErrors.ToErrorRecord(e, null));
        }
    }

    /// <summary>Runs <paramref name="action"/> on the pipeline thread (now, if we are on it).</summary>
    private void Post(Action action)
    {
        var queue = _queue;
        if (queue is null) { action(); return; }
        try { queue.Add(action); }
        catch (InvalidOperationException) { /* the pipeline finished; nothing to write to */ }
    }

    /// <summary>Runs <paramref name="func"/> on the pipeline thread and waits for its result.</summary>
    private Task<T> Invoke<T>(Func<T> func)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            try { done.SetResult(func()); }
            catch (Exception e) { done.SetException(e); throw; }
        });
        return done.Task.WaitAsync(CancelToken);
    }

    protected void WriteObjectAsync(object? value) => Post(() => WriteObject(value));
    protected void WriteErrorAsync(ErrorRecord record) => Post(() => WriteError(record));
    protected void WriteWarningAsync(string text) => Post(() => WriteWarning(text));
    protected void WriteVerboseAsync(string text) => Post(() => WriteVerbose(text));
    /// <summary>A summary line for the person at the prompt: the information stream tagged PSHOST, as Write-Host writes.</summary>
    protected void WriteHostAsync(string text) => Post(() => WriteInformation(new HostInformationMessage { Message = text }, ["PSHOST"]));
    protected void WriteProgressAsync(ProgressRecord record) => Post(() => WriteProgress(record));
    protected Task<bool> ShouldProcessAsync(string target, string action) => Invoke(() => ShouldProcess(target, action));

    /// <summary>
    /// Asks ShouldProcess, so -WhatIf, -WhatIf:$false, $WhatIfPreference and -Confirm mean exactly what they mean to
    /// PowerShell, and says whether the answer was "what if" (then the caller lists what it would do, and does nothing).
    /// </summary>
    protected Task<(bool Go, bool WhatIf)> AskAsync(string target, string action) => Invoke(() =>
    {
        var go = ShouldProcess($"Performing the operation \"{action}\" on target \"{target}\".",
            $"Are you sure you want to perform this action?{Environment.NewLine}Performing the operation \"{action}\" on target \"{target}\".",
            "Confirm", out var reason);
        return (go, reason == ShouldProcessReason.WhatIf);
    });
    protected Task<bool> ShouldContinueAsync(string query, string caption) => Invoke(() => ShouldContinue(query, caption));
    /// <summary>Runs <paramref name="func"/> on the pipeline thread (script blocks must run in the runspace's thread).</summary>
    protected Task<T> InvokeOnPipelineAsync<T>(Func<T> func) => Invoke(func);

    /// <summary>
    /// An <see cref="IProgress{T}"/> for engine calls that shows bytes, rate and phase as a progress bar. Reports are
    /// posted, not awaited, so a slow terminal never slows a backup; the bar is completed when the work ends.
    /// </summary>
    protected IProgress<TransferProgress> CreateTransferProgress(string activity, int activityId = 1)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        return new PipelineProgress<TransferProgress>(p =>
        {
            var rate = p.Bytes / Math.Max(clock.Elapsed.TotalSeconds, 0.001);
            // Counts that are not bytes (an Elasticsearch snapshot's shards) are shown as "done of total".
            var record = p.Phase == "Shards"
                ? new ProgressRecord(activityId, activity, $"Shards: {p.Bytes} of {p.TotalBytes} done")
                : new ProgressRecord(activityId, activity, $"{p.Phase}: {FormatBytes(p.Bytes)} at {FormatBytes((long)rate)}/s");
            if (p.TotalBytes is > 0 and var total)
            {
                record.PercentComplete = (int)Math.Min(100, 100 * p.Bytes / total);
                if (rate > 0) record.SecondsRemaining = (int)((total - p.Bytes) / rate);
            }
            WriteProgressAsync(record);
        });
    }

    internal static string FormatBytes(long bytes) => Engine.Status.BackupStatusCalculator.Bytes(bytes);

    /// <summary>Unlike System.Progress, calls back synchronously (into the queue) with no SynchronizationContext.</summary>
    private sealed class PipelineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    public void Dispose()
    {
        _cancel.Dispose();
        GC.SuppressFinalize(this);
    }
}
