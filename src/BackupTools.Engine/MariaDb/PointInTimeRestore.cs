using System.Diagnostics;
using BackupTools.Engine.Processes;
using BackupTools.Engine.Repository;
using BackupTools.Model;

namespace BackupTools.Engine.MariaDb;

/// <summary>What one restore needs: the checked plan, where to put the result, and how to validate it.</summary>
public sealed record RestoreRequest
{
    public required PlannedRestore Planned { get; init; }
    public required string Destination { get; init; }
    /// <summary>The target's policy entry: its dataDir is the owner template, and the -Replace swap target.</summary>
    public TargetPolicy? Target { get; init; }
    /// <summary>The MariaDB tools to use; else the target's toolsDir, else PATH.</summary>
    public MariaDbTools? Tools { get; init; }
    public string? Password { get; init; }
    public bool Replace { get; init; }
    /// <summary>Where a -Replace records its swap and marker, when the plan reads a scratch repository (offsite); null: the plan's repository.</summary>
    public string? StateRoot { get; init; }
    public RestoreValidation Validation { get; init; } = RestoreValidation.RowCount;
    public string? ValidationQuery { get; init; }
    public IProgress<TransferProgress>? Progress { get; init; }
    public Action<string>? Log { get; init; }
    /// <summary>Told the name of each step as it starts (progress bar, verbose).</summary>
    public Action<string>? StepStarted { get; init; }
}

/// <summary>
/// Restores a MariaDB target to a point in time: extract the chain into scratch beside the destination and prepare it
/// (full, then each incremental in order), move it into the destination, start a temporary server there, replay the
/// binary logs from the last backup's exact position to the stop time, validate, shut down cleanly, give the files to
/// the data directory's owner. Only then, with -Replace, swap it in for the target's data directory. Any failure
/// removes the scratch and the half-made destination and leaves the live data directory untouched.
/// </summary>
public static class PointInTimeRestore
{

    public static readonly string[] StepNames =
    [
        "check the plan", "extract and prepare the backups", "move the prepared data into the destination", "extract the binary logs",
        "start a temporary server", "replay the binary logs", "validate", "shut the temporary server down", "set file ownership",
        "swap into the data directory",
    ];

    /// <summary>Steps only -Replace takes.</summary>
    public static readonly string[] ReplaceOnlySteps = ["swap into the data directory"];

    /// <summary>
    /// The steps this plan will take, one line each, from <see cref="StepNames"/> (the names progress shows) with what
    /// each will do: what -WhatIf lists, so the two cannot drift apart.
    /// </summary>
    public static IReadOnlyList<string> Describe(RestorePlan plan, string destination, string? replaceDataDir)
    {
        string Detail(string step) => step switch
        {
            "check the plan" => $"{plan.Summary}; window {plan.RecoverableFrom:u} to {plan.RecoverableTo:u}" +
                                (replaceDataDir is null ? "" : $"; and that the server of {replaceDataDir} is stopped"),
            "extract and prepare the backups" => $"full {plan.Full.Id}" + string.Concat(plan.Incrementals.Select(i => $", then incremental {i.Id}")),
            "move the prepared data into the destination" => destination,
            "extract the binary logs" => $"{plan.Binlogs.Count} file(s): {string.Join(", ", plan.Binlogs.Select(b => b.BinlogFile))}",
            "start a temporary server" => "mariadbd on the restored data (socket only, no binary log)",
            "replay the binary logs" => $"from {plan.StartBinlogFile}:{plan.StartBinlogPosition} " +
                                        (plan.Latest ? $"to the last whole transaction held (the newest event is of {plan.PointInTime:yyyy-MM-dd HH:mm:ss} UTC)" : $"until {plan.StopTime:yyyy-MM-dd HH:mm:ss} UTC"),
            "validate" => "row counts or CHECK TABLE, and the validation query",
            "shut the temporary server down" => "mariadb-admin shutdown, waiting for it to end",
            "set file ownership" => "as the target's data directory (else the mysql account), when running as root",
            "swap into the data directory" => $"check again that the server is stopped, then swap {destination} into {replaceDataDir} atomically, " +
                                              "keeping the old directory; the server's next binary logs start a new timeline",
            _ => "",
        };
        return StepNames.Where(s => replaceDataDir is not null || !ReplaceOnlySteps.Contains(s))
            .Select((s, i) => $"Step {i + 1}: {s}: {Detail(s)}").ToList();
    }

    public static async Task<RestoreResult> RunAsync(RestoreRequest request, CancellationToken cancellationToken)
    {
        var plan = request.Planned.Plan;
        var destination = Path.GetFullPath(request.Destination);
        if (Directory.Exists(destination) && Directory.EnumerateFileSystemEntries(destination).Any())
            throw new IOException($"The destination '{destination}' is not empty. Give a new or empty directory: a restore never writes over existing files.");
        if (File.Exists(destination))
            throw new IOException($"The destination '{destination}' is a file. Give a new or empty directory.");
        if (request.Replace && request.Target?.DataDir is null)
            throw new RestoreReplaceException($"Target '{plan.Target}' has no dataDir in the policy, so -Replace does not know which directory to replace.");

        // The tools of the release that made the backup, checked before anything is made or touched.
        var tools = request.Tools ?? new MariaDbTools(request.Target?.ToolsDir);
        await tools.RequireRestoreReleaseAsync(request.Planned.Chain[0].Manifest.ServerVersion, $"Restoring target '{plan.Target}'", cancellationToken);

        var home = request.StateRoot ?? plan.Repository;
        if (request.Target is { } swapTarget) DataDirectorySwap.RecoverInterrupted(home, swapTarget.Name, request.Log, swapTarget.DataDir);

        var parent = Path.GetDirectoryName(destination)!;
        Directory.CreateDirectory(parent);
        // mariabackup and chown -R work by path: as root, only under directories no other account can write (the mysql
        // account owning the parent could swap the half-built directory for a symlink mid-way).
        SafeDirectory.RefuseUnlessOnlyRootWrites(parent, $"to restore into '{destination}'");
        var scratch = Path.Combine(parent, $".{Path.GetFileName(destination)}.backuptools-{Guid.NewGuid().ToString("N")[..8]}");
        var createdDestination = !Directory.Exists(destination);
        FileModes.CreatePrivateDirectory(scratch);
        // A reader lease: retention leaves this target's sets alone while a restore reads them (barman PR #980).
        await using var reader = TargetLock.AcquireReader(plan.Repository, MariaDbCatalog.Engine, plan.Target);
        var runner = new StepRunner(request.StepStarted, request.Log);
        var total = Stopwatch.StartNew();
        var succeeded = false;
        var keepDestination = false; // a -Replace that stopped right before the swap keeps its finished restore
        TemporaryMariaDb? server = null;
        try
        {
            Task<T> Step<T>(string name, Func<Task<T>> work) => runner.RunAsync(name, work);
            Task Do(string name, Func<Task> work) => runner.RunAsync(name, work);

            await Do(StepNames[0], () =>
            {
                if (request.Replace && request.Target is { } target) return DataDirectorySwap.EnsureServerStoppedAsync(target, request.Password, cancellationToken);
                return Task.CompletedTask;
            });
            var work = new ScratchAt(scratch);
            var prepared = await Step(StepNames[1], () => BackupPreparer.PrepareChainAsync(
                request.Planned.Chain.Select(MariaDbBackup.ToLink).ToList(), work, request.Progress, request.Log, cancellationToken, tools));
            await Do(StepNames[2], async () =>
            {
                var result = await ProcessRunner.RunAsync(new ProcessSpec(tools.Program("mariabackup"),
                    ["--no-defaults", "--move-back", $"--target-dir={prepared}", $"--datadir={destination}"]), null, cancellationToken);
                if (result.ExitCode != 0 || !BackupPreparer.EndsWithCompletedOk(result.StderrTail))
                    throw new MariaBackupFailedException("--move-back", result.ExitCode, result.StderrTail);
            });
            var (files, reach) = await Step(StepNames[3], () => ExtractBinlogsAsync(request, Path.Combine(scratch, "binlog"), cancellationToken));
            server = await Step(StepNames[4], () => TemporaryMariaDb.StartAsync(destination, request.Log, cancellationToken, tools));
            await Do(StepNames[5], () => BinlogReplayer.ReplayAsync(files, plan.StartBinlogPosition, StopOf(plan), server.ClientOptionsFile, request.Log, cancellationToken, tools));
            var (tables, summary) = await Step(StepNames[6], () => RestoreValidator.ValidateAsync(server, request.Validation, request.ValidationQuery, request.Log, cancellationToken));
            await Do(StepNames[7], () => server.ShutdownAsync(cancellationToken));
            await Do(StepNames[8], () => SetOwnerAsync(destination, request.Target?.DataDir, request.Log, cancellationToken));
            string? kept = null;
            if (request.Replace)
                kept = await Step(StepNames[9], async () =>
                {
                    // The restore took minutes: somebody may have started the server meanwhile. Check again, right before the swap.
                    try { await DataDirectorySwap.EnsureServerStoppedAsync(request.Target!, request.Password, cancellationToken); }
                    catch (RestoreReplaceException e)
                    {
                        keepDestination = true;
                        throw new RestoreReplaceException(
                            $"{e.Message} The data directory {request.Target!.DataDir} was not touched; the finished, validated restore is kept at {destination}. " +
                            "Do not move it in by hand (the binary-log timeline would not be recorded): stop the server and run the restore with -Replace again.");
                    }
                    // From here on the destination is never deleted: after the exchange it holds the old live data.
                    keepDestination = true;
                    return DataDirectorySwap.Swap(home, plan.Target, destination, request.Target!.DataDir!, DateTime.UtcNow, plan.PointInTime, reach.LastGtid, request.Log);
                });
            succeeded = true;
            return new RestoreResult
            {
                Target = plan.Target, PointInTime = plan.PointInTime, Plan = plan.Summary,
                Destination = request.Replace ? request.Target!.DataDir! : destination,
                Steps = runner.Done, Duration = total.Elapsed, Validated = true, Validation = summary, Tables = tables,
                ReachedBinlogFile = reach.File, ReachedBinlogPosition = reach.Position, ReachedGtid = reach.LastGtid,
                PreviousDataDirectory = kept,
            };
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (server is not null) request.Log?.Invoke("Temporary server log: " + server.ErrorLogTail());
            var step = runner.Current.Length > 0 ? runner.Current : StepNames[0];
            throw e is RestoreReplaceException && (step == StepNames[0] || keepDestination) ? e : new RestoreStepException(step, e);
        }
        finally
        {
            if (server is not null) await server.DisposeAsync();
            Cleanup.TryDeleteDirectory(scratch);
            if (!succeeded && !keepDestination) // ours: it was new or empty when we began
            {
                if (createdDestination) Cleanup.TryDeleteDirectory(destination);
                else if (Directory.Exists(destination))
                    foreach (var entry in Directory.EnumerateFileSystemEntries(destination).ToList())
                        if (Directory.Exists(entry)) Cleanup.TryDeleteDirectory(entry); else File.Delete(entry);
            }
        }
    }

    /// <summary>Decompresses the plan's binlog files into scratch, proving each against its manifest, and finds where replay stops.</summary>
    private static async Task<(IReadOnlyList<string> Files, ReplayReach Reach)> ExtractBinlogsAsync(RestoreRequest request, string directory, CancellationToken ct)
    {
        var plan = request.Planned.Plan;
        FileModes.CreatePrivateDirectory(directory);
        var paths = new List<string>();
        ReplayReach? reach = null;
        string? gtid = plan.StartGtid;
        foreach (var entry in request.Planned.Binlogs)
        {
            var name = entry.Manifest.EngineFields[EngineFieldNames.BinlogFile];
            var path = Path.Combine(directory, name);
            var first = paths.Count == 0;
            var scanner = StreamedBinlogs.IsStreamed(entry)
                ? await CopyStreamedAsync(entry, path, plan, first, ct)
                : await ExtractArchivedAsync(entry, path, plan, first, request.Progress, ct);
            paths.Add(path);
            var facts = scanner.Facts;
            gtid = facts.LastCompleteGtid ?? gtid;
            if (facts.StopPosition is { } stop)
            {
                reach = new ReplayReach(name, stop, gtid);
                break; // later files are never reached: mariadb-binlog stops here
            }
            reach = new ReplayReach(name, facts.EndPosition, gtid);
        }
        return (paths, reach ?? new ReplayReach(plan.StartBinlogFile, plan.StartBinlogPosition, plan.StartGtid));
    }

    /// <summary>
    /// Where replay stops: the plan's stop second, or nowhere for the latest point. Event times are not in order
    /// across files (a replica's events carry its primary's clock), so a stop time after the newest file's last event
    /// could still cut an earlier file short; the latest point replays every file whole, as they hold whole
    /// transactions only.
    /// </summary>
    private static DateTime? StopOf(RestorePlan plan) => plan.Latest ? null : plan.StopTime;

    private static async Task<BinlogScanner> ExtractArchivedAsync(CatalogEntry entry, string path, RestorePlan plan, bool first, IProgress<TransferProgress>? progress, CancellationToken ct)
    {
        var file = entry.Manifest.Files.Single();
        await using var source = StreamingWriter.OpenVerifiedRead(Path.Combine(entry.Path, file.Name), file.Compression, file.Sha256, out var verifier);
        await using var target = FileModes.CreatePrivateFile(path);
        var scanner = new BinlogScanner(new ProgressStream(source, progress, "Extracting " + Path.GetFileName(path)), StopOf(plan), first ? plan.StartBinlogPosition : 0);
        await scanner.CopyToAsync(target, ct);
        await verifier.VerifyToEndAsync(ct);
        return scanner;
    }

    /// <summary>The stream's file, up to the last whole transaction the plan counted (the rest may still be arriving).</summary>
    private static async Task<BinlogScanner> CopyStreamedAsync(CatalogEntry entry, string path, RestorePlan plan, bool first, CancellationToken ct)
    {
        var scanner = new BinlogScanner(Stream.Null, StopOf(plan), first ? plan.StartBinlogPosition : 0);
        await using var copy = FileModes.CreatePrivateFile(path);
        await StreamedBinlogs.CopyAsync(entry, copy, scanner, ct);
        return scanner;
    }

    /// <summary>Gives the restored files to the owner of the target's data directory, else to the 'mysql' user (root only).</summary>
    private static async Task SetOwnerAsync(string destination, string? dataDir, Action<string>? log, CancellationToken ct)
    {
        if (!SafeDirectory.IsRoot)
        {
            log?.Invoke("Not running as root: the restored files keep this user as their owner.");
            return;
        }
        string? owner = null;
        // The owner of the data directory it replaces (read without following a link: lstat, no child process).
        if (dataDir is not null && FileKinds.Stat(dataDir) is { } s && (s.Mode & 0xF000) == 0x4000)
            owner = $"{s.Uid}:{s.Gid}";
        else if (File.ReadLines("/etc/passwd").FirstOrDefault(l => l.StartsWith("mysql:", StringComparison.Ordinal)) is { } line)
        {
            var f = line.Split(':');
            owner = $"{f[2]}:{f[3]}";
        }
        if (owner is null)
        {
            log?.Invoke("No data directory to copy the owner from and no 'mysql' user: ownership left as is.");
            return;
        }
        log?.Invoke($"chown -R {owner} {destination}");
        await ProcessRunner.RunForTextAsync(new ProcessSpec("chown", ["-R", owner, destination]), ct);
    }


    /// <summary>A scratch directory the restore owns (beside the destination, so the final move is a rename).</summary>
    private sealed class ScratchAt(string path) : IScratchDirectory
    {
        public string Path => path;
        public string Combine(string name)
        {
            var p = System.IO.Path.Combine(path, name);
            FileModes.CreatePrivateDirectory(p);
            return p;
        }
    }
}
