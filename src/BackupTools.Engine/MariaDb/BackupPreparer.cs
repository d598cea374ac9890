using BackupTools.Engine.Processes;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.MariaDb;

/// <summary>One backup stream of a chain: where it is stored, how, and the SHA-256 of its stored bytes.</summary>
/// <summary>One stored backup of a chain; ServerVersion is the release that made it (its prepare needs that release's mariabackup).</summary>
public sealed record ChainLink(string Id, string StreamPath, string Compression, string Sha256, string? ServerVersion = null);

/// <summary>
/// Turns a chain of streamed backups into a prepared data directory: extract each with mbstream, then
/// <c>mariabackup --prepare</c> the full and apply each incremental in order. Used by -Verify, Test-DbBackup -Prepare
/// and restores. Works only on extracted copies: <c>--prepare --incremental-dir</c> deletes the incremental's delta
/// files, so nothing stored in the repository is ever handed to it.
/// </summary>
public static class BackupPreparer
{
    public static async Task<string> PrepareChainAsync(IReadOnlyList<ChainLink> chain, IScratchDirectory scratch,
        IProgress<TransferProgress>? progress, Action<string>? log, CancellationToken cancellationToken, MariaDbTools? tools = null)
    {
        if (chain.Count == 0) throw new ArgumentException("A chain needs at least its full backup.", nameof(chain));
        tools ??= MariaDbTools.FromPath;
        // Before anything is extracted: a prepare by another release's mariabackup fails mid-way or misreads the files.
        foreach (var version in chain.Select(l => l.ServerVersion).Where(v => v is not null).DistinctBy(MariaDbTools.Release))
            await tools.RequireReleaseAsync(version, $"Preparing backup {chain[^1].Id}", cancellationToken);
        var full = scratch.Combine("prepared");
        var directories = chain.Select((link, i) => i == 0 ? full : scratch.Combine($"inc-{i:D3}")).ToList();
        // Extract every link at once: decompression, mbstream and the disk overlap, where one after another would wait.
        using (var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            var extractions = chain.Select(async (link, i) =>
            {
                log?.Invoke($"Extracting {link.Id} into {directories[i]}");
                try { await ExtractAsync(link, directories[i], progress, failed.Token, tools); }
                catch { failed.Cancel(); throw; }
            }).ToList();
            try { await Task.WhenAll(extractions); }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Report the extraction that failed, not the ones cancelled because of it.
                throw extractions.Select(t => t.Exception?.InnerException).First(e => e is not null and not OperationCanceledException)!;
            }
        }
        log?.Invoke($"Preparing full backup {chain[0].Id}");
        await PrepareAsync(tools, ["--prepare", $"--target-dir={full}"], log, cancellationToken);
        for (var i = 1; i < chain.Count; i++)
        {
            log?.Invoke($"Applying incremental {chain[i].Id}");
            await PrepareAsync(tools, ["--prepare", $"--target-dir={full}", $"--incremental-dir={directories[i]}"], log, cancellationToken);
            Directory.Delete(directories[i], recursive: true); // its deltas are applied; free the space
        }
        return full;
    }

    /// <summary>Decompresses a stored stream into <c>mbstream -x</c>, proving the stored bytes against the manifest as they are read.</summary>
    public static async Task ExtractAsync(ChainLink link, string destination, IProgress<TransferProgress>? progress, CancellationToken cancellationToken,
        MariaDbTools? tools = null)
    {
        await using var source = new ProgressStream(StreamingWriter.OpenVerifiedRead(link.StreamPath, link.Compression, link.Sha256, out var verifier),
            progress, "Extracting " + link.Id);
        var result = await ProcessRunner.RunAsync(
            new ProcessSpec((tools ?? MariaDbTools.FromPath).Program("mbstream"), ["-x", "-C", destination]) { StandardInput = source }, null, cancellationToken);
        await verifier.VerifyToEndAsync(cancellationToken); // a damaged file fails here, before anything is prepared from it
        if (result.ExitCode != 0) throw new ToolFailedException("mbstream", result.ExitCode, result.StderrTail);
    }

    private static async Task PrepareAsync(MariaDbTools tools, IReadOnlyList<string> arguments, Action<string>? log, CancellationToken cancellationToken)
    {
        // --no-defaults: the host's /etc/mysql settings (datadir, log paths) must not steer a prepare of a copy;
        // the backup's own backup-my.cnf carries the InnoDB parameters it needs.
        var result = await ProcessRunner.RunAsync(new ProcessSpec(tools.Program("mariabackup"), ["--no-defaults", .. arguments]), null,
            cancellationToken, line => log?.Invoke(line));
        if (result.ExitCode != 0 || !EndsWithCompletedOk(result.StderrTail))
            throw new MariaBackupFailedException("--prepare", result.ExitCode, result.StderrTail);
    }

    /// <summary>mariabackup's last log line is <c>... completed OK!</c> when, and only when, it succeeded.</summary>
    public static bool EndsWithCompletedOk(string stderrTail) =>
        stderrTail.TrimEnd().EndsWith("completed OK!", StringComparison.Ordinal);
}
