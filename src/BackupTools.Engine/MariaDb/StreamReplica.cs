using BackupTools.Engine.Processes;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// What feeds the stream directory while it runs: the module's own replica connection (<see cref="BinlogReceiver"/>,
/// the default) or the server release's mariadb-binlog (<c>stream: { client: mariadb-binlog }</c>, or a login whose
/// authentication plugin the own connection does not speak). Both write the server's files, whole events, from the
/// start of the file asked for; the stream around them (sync, seal, resume, report) is the same.
/// </summary>
internal abstract class StreamReplica : IDisposable
{
    /// <summary>It stopped by itself: the connection ended, the server refused, the tool exited.</summary>
    public abstract bool HasStopped { get; }

    /// <summary>Why it stopped, for the log, the state file and Get-BackupStatus.</summary>
    public abstract string StopReason { get; }

    /// <summary>Stops it (Ctrl+C, the service stopped) and waits until nothing writes any more.</summary>
    public abstract Task StopAsync();

    public abstract void Dispose();
}

/// <summary>The module's own replica connection, receiving on a thread of its own.</summary>
internal sealed class OwnReplica : StreamReplica
{
    private readonly BinlogReceiver _receiver;
    private readonly Task _run;

    private OwnReplica(BinlogReceiver receiver)
    {
        _receiver = receiver;
        // A blocking read loop: one thread for as long as the stream runs, never a pool thread.
        _run = Task.Factory.StartNew(receiver.Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public static async Task<OwnReplica> StartAsync(Model.TargetPolicy target, string? password, int serverId, string file, string directory, CancellationToken ct) =>
        new(await Task.Run(() => BinlogReceiver.Connect(target, password, serverId, file, directory, TimeSpan.FromSeconds(10), ct), ct));

    public override bool HasStopped => _run.IsCompleted;

    public override string StopReason => _run.Exception?.GetBaseException().Message ?? "the connection ended";

    public override async Task StopAsync()
    {
        _receiver.Dispose();
        try { await _run; }
        catch (Exception) when (_run.IsFaulted) { } // why it stopped is StopReason's to say
    }

    public override void Dispose() => _receiver.Dispose();
}

/// <summary>mariadb-binlog --read-from-remote-server --raw --stop-never, its login in a 0600 options file.</summary>
internal sealed class ToolReplica(System.Diagnostics.Process tool) : StreamReplica
{
    public static ToolReplica Start(string program, string optionsFile, int serverId, string file, string directory, Action<string> errorLine) =>
        new(ProcessRunner.StartService(new ProcessSpec(program,
        [
            $"--defaults-extra-file={optionsFile}", "--read-from-remote-server", "--raw", "--stop-never",
            $"--stop-never-slave-server-id={serverId}", $"--result-file={directory}/", file,
        ]), errorLine));

    public override bool HasStopped => tool.HasExited;

    public override string StopReason => $"mariadb-binlog exited with code {tool.ExitCode}";

    public override async Task StopAsync()
    {
        if (!tool.HasExited) tool.Kill(entireProcessTree: true);
        await tool.WaitForExitAsync(CancellationToken.None);
    }

    public override void Dispose() => tool.Dispose();
}
