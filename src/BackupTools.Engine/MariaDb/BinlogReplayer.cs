using System.Globalization;
using System.IO.Pipelines;
using BackupTools.Engine.Processes;

namespace BackupTools.Engine.MariaDb;

/// <summary>Where a replay stopped, from our own reading of the files (mariadb-binlog does not say).</summary>
public sealed record ReplayReach(string File, long Position, string? LastGtid);

/// <summary>
/// Replays binary logs into a server: <c>mariadb-binlog --start-position=P --stop-datetime=T f1 f2 … | mariadb</c>.
/// All files go on one command line because an integer start position applies to the first file only. The stop time
/// is written in UTC and mariadb-binlog runs with TZ=UTC: it reads --stop-datetime in its own local time zone, and
/// with any other zone rows after T came back (measured). The client runs with --max-allowed-packet=1G so a large ROW
/// transaction (one huge BINLOG statement) is not cut.
/// </summary>
public static class BinlogReplayer
{
    /// <param name="stopUtc">Null: replay the files whole (a restore to the latest point: they hold whole transactions only).</param>
    public static async Task ReplayAsync(IReadOnlyList<string> files, long startPosition, DateTime? stopUtc, string clientOptionsFile,
        Action<string>? log, CancellationToken cancellationToken, MariaDbTools? tools = null)
    {
        tools ??= MariaDbTools.FromPath;
        var arguments = new List<string> { "--no-defaults", $"--start-position={startPosition.ToString(CultureInfo.InvariantCulture)}" };
        if (stopUtc is { } stop) arguments.Add($"--stop-datetime={stop.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}");
        arguments.AddRange(files);
        log?.Invoke($"TZ=UTC mariadb-binlog {string.Join(' ', arguments)} | mariadb --binary-mode --max-allowed-packet=1G");

        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 8 << 20, resumeWriterThreshold: 4 << 20));
        var client = ProcessRunner.RunAsync(
            new ProcessSpec(tools.Program("mariadb"), [$"--defaults-file={clientOptionsFile}", "--binary-mode", "--max-allowed-packet=1G", "--batch"])
            { StandardInput = pipe.Reader.AsStream() }, null, cancellationToken);
        // If the client dies early, stop feeding it instead of blocking on a full pipe.
        _ = client.ContinueWith(_ => pipe.Reader.Complete(), TaskScheduler.Default);
        ProcessResult binlog;
        try
        {
            binlog = await ProcessRunner.RunAsync(
                new ProcessSpec(tools.Program("mariadb-binlog"), arguments) { Environment = new Dictionary<string, string> { ["TZ"] = "UTC" } },
                async (stdout, token) =>
                {
                    await using var sink = pipe.Writer.AsStream(leaveOpen: true);
                    try { await stdout.CopyToAsync(sink, token); }
                    catch (InvalidOperationException) { /* the reader is gone: the client ended, its result says why */ }
                },
                cancellationToken);
        }
        finally
        {
            await pipe.Writer.CompleteAsync();
        }
        var replay = await client;
        if (binlog.ExitCode != 0) throw new ToolFailedException("mariadb-binlog", binlog.ExitCode, binlog.StderrTail);
        if (replay.ExitCode != 0) throw new ToolFailedException("mariadb", replay.ExitCode, replay.StderrTail);
    }
}
