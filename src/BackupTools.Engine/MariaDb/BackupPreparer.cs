using BackupTools.Engine.Processes;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.MariaDb;

/// <summary>One backup stream of a chain: where it is stored, how, and the SHA-256 of its stored bytes.</summary>
public sealed record ChainLink(string Id, string StreamPath, string Compression, string Sha256);

/// <summary>
/// Turns a chain of streamed backups into a prepared data directory: extract each with mbstream, then
/// <c>mariabackup --prepare</c> the full and apply each incremental in order. Used by -Verify, Test-DbBackup -Prepare
/// and restores. Works only on extracted copies: <c>--prepare --incremental-dir</c> deletes the incremental's delta
/// files, so nothing stored in the repository is ever handed to it.
/// </summary>
public static class BackupPreparer
{
    public static async Task<string> PrepareChainAsync(IReadOnlyList<ChainLink> chain, IScratchDirectory scratch,
        IProgress<TransferProgress>? progress, Action<string>? log, CancellationToken cancellationToken)
    {
        if (chain.Count == 0) throw new ArgumentException("A chain needs at least its full backup.", nameof(chain));
        var full = scratch.Combine("prepared");
        for (var i = 0; i < chain.Count; i++)
        {
            var link = chain[i];
            var into = i == 0 ? full : scratch.Combine($"inc-{i:D3}");
            log?.Invoke($"Extracting {link.Id} into {into}");
            await ExtractAsync(link, into, progress, cancellationToken);
            if (i == 0)
            {
                log?.Invoke($"Preparing full backup {link.Id}");
                await PrepareAsync(["--prepare", $"--target-dir={full}"], log, cancellationToken);
            }
            else
            {
                log?.Invoke($"Applying incremental {link.Id}");
                await PrepareAsync(["--prepare", $"--target-dir={full}", $"--incremental-dir={into}"], log, cancellationToken);
                Directory.Delete(into, recursive: true); // its deltas are applied; free the space before the next
            }
        }
        return full;
    }

    /// <summary>Decompresses a stored stream into <c>mbstream -x</c>, proving the stored bytes against the manifest as they are read.</summary>
    public static async Task ExtractAsync(ChainLink link, string destination, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        await using var source = new ProgressStream(StreamingWriter.OpenVerifiedRead(link.StreamPath, link.Compression, link.Sha256, out var verifier),
            progress, "Extracting " + link.Id);
        var result = await ProcessRunner.RunAsync(
            new ProcessSpec("mbstream", ["-x", "-C", destination]) { StandardInput = source }, null, cancellationToken);
        await verifier.VerifyToEndAsync(cancellationToken); // a damaged file fails here, before anything is prepared from it
        if (result.ExitCode != 0) throw new ToolFailedException("mbstream", result.ExitCode, result.StderrTail);
    }

    private static async Task PrepareAsync(IReadOnlyList<string> arguments, Action<string>? log, CancellationToken cancellationToken)
    {
        // --no-defaults: the host's /etc/mysql settings (datadir, log paths) must not steer a prepare of a copy;
        // the backup's own backup-my.cnf carries the InnoDB parameters it needs.
        var result = await ProcessRunner.RunAsync(new ProcessSpec("mariabackup", ["--no-defaults", .. arguments]), null,
            cancellationToken, line => log?.Invoke(line));
        if (result.ExitCode != 0 || !EndsWithCompletedOk(result.StderrTail))
            throw new MariaBackupFailedException("--prepare", result.ExitCode, result.StderrTail);
    }

    /// <summary>mariabackup's last log line is <c>... completed OK!</c> when, and only when, it succeeded.</summary>
    public static bool EndsWithCompletedOk(string stderrTail) =>
        stderrTail.TrimEnd().EndsWith("completed OK!", StringComparison.Ordinal);
}
