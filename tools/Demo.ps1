<#
.SYNOPSIS
    A sysadmin's day with BackupTools on throwaway servers: what build.ps1 -Task Demo runs.
.DESCRIPTION
    Starts a real mariadbd and redis-server on free loopback ports under a temp directory, writes a policy for them,
    walks through the public cmdlets printing what a person would look at, and stops what it started.
    Each feature that lands extends this walk with its own cmdlets.
#>
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [Parameter(Mandatory)][string] $TestServersAssembly
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Add-Type -Path $TestServersAssembly
Import-Module $ModulePath

function Step([string] $Title) { Write-Host "`n=== $Title ===" }
function Show { $input | Out-String -Width 150 | Write-Host }

$work = Join-Path ([IO.Path]::GetTempPath()) ("backuptools-demo-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory $work | Out-Null
$maria = $redis = $null
try {
    Step 'Start throwaway servers (mariadbd with binary log in ROW format, redis-server)'
    $maria = [BackupTools.TestServers.MariaDbServer]::Start("$work/mariadb")
    $redis = [BackupTools.TestServers.RedisServer]::Start("$work/redis")
    Write-Host "mariadbd pid $($maria.ProcessId) on 127.0.0.1:$($maria.Port); redis-server pid $($redis.ProcessId) on 127.0.0.1:$($redis.Port); under $work"

    Step 'Write a policy: the password comes from an environment variable, never from the file'
    $env:DEMO_DB_PASSWORD = $maria.BackupPassword
    $policy = Join-Path $work 'policy.yml'
    @"
repository: $work/repo
targets:
  main-db:
    engine: mariadb
    socket: $($maria.Socket)
    user: backup
    passwordEnv: DEMO_DB_PASSWORD
    dataDir: $($maria.DataDirectory)
    schedule: { full: "0 2 * * *", incremental: "0 */6 * * *", binlog: "*/15 * * * *" }
    retention: { full: 30d, incremental: 7d, binlog: 14d }
  cache:
    engine: redis
    host: 127.0.0.1
    port: $($redis.Port)
    schedule: { snapshot: "0 * * * *" }
    retention: { snapshot: 7d }
models:
  llm-main: { path: $work/models/llm-main, keep: 5 }
config:
  paths: [/etc/hostname]
storage: { warningFreePercent: 20, criticalFreePercent: 10 }
alerts:
  delayGrace: 1h
  routes: { critical: [], warning: [] }   # no channel yet: the alerting step below adds Slack
"@ | Set-Content $policy
    $env:BACKUPTOOLS_POLICY = $policy
    Write-Host "`$env:BACKUPTOOLS_POLICY = $policy"

    Step 'Test-BackupPolicy'
    Test-BackupPolicy | Show

    Step 'Get-BackupPolicy'
    Get-BackupPolicy | Show
    (Get-BackupPolicy).Targets | Format-Table | Show

    Step 'A typo in a copy of the policy: every problem, with its line and column'
    $typo = Join-Path $work 'typo.yml'
    (Get-Content $policy -Raw) -replace 'retention: \{ full: 30d', 'retension: { full: 30 days' -replace 'port: ', 'prot: ' | Set-Content $typo
    Test-BackupPolicy -Policy $typo -ErrorAction SilentlyContinue -ErrorVariable problems | Out-Null
    $problems | ForEach-Object { Write-Host "  $_" }

    Step 'Test-BackupTarget: can we reach and log in to every target?'
    Test-BackupTarget | Format-Table | Show

    Step 'Initialize-BackupRepository'
    Initialize-BackupRepository | Show

    Step 'Some data to protect'
    $maria.Sql("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, item TEXT, at DATETIME DEFAULT NOW()) ENGINE=InnoDB; INSERT INTO shop.orders (item) VALUES ('gpu'), ('ssd');") | Out-Null
    $maria.Sql('SELECT COUNT(*) AS orders FROM shop.orders') | Write-Host

    Step 'Start-DbBackup -Target main-db: a full backup (mariabackup stream -> zstd + SHA-256 -> backup set)'
    Start-DbBackup -Target main-db | Show

    Step 'More orders, then an incremental that continues the full, proved restorable with -Verify'
    $maria.Sql("INSERT INTO shop.orders (item) VALUES ('nvme'), ('ram');") | Out-Null
    Start-DbBackup -Target main-db -Type Incremental -Verify | Show

    Step 'Start-DbBackup -Type Binlog: archive the closed binary logs (what point-in-time restore replays)'
    $maria.Sql("INSERT INTO shop.orders (item) VALUES ('psu');") | Out-Null
    Start-DbBackup main-db Binlog | Format-Table Target, Type, Status, BinlogFile, FirstEventTime, LastEventTime, StoredBytes | Show

    Step 'A wrong password: a Failed record and an error that says what to check; nothing is published'
    $bad = [pscredential]::new('backup', (ConvertTo-SecureString 'not-it' -AsPlainText -Force))
    Start-DbBackup main-db -Credential $bad -ErrorAction SilentlyContinue -ErrorVariable failure | Format-Table Target, Type, Status, Error -Wrap | Show
    Write-Host "  error id: $($failure[0].FullyQualifiedErrorId)"

    Step 'Get-DbBackup: the catalog, oldest first'
    Get-DbBackup | Show

    Step 'Get-DbBackup | Test-DbBackup -Prepare: every file re-hashed, every chain prepared by mariabackup'
    Get-DbBackup | Test-DbBackup -Prepare | Show

    Step 'Note the time, then make a mistake: DROP TABLE shop.orders'
    Start-Sleep -Milliseconds 1100
    $beforeMistake = Get-Date
    Write-Host "  noted: $($beforeMistake.ToString('yyyy-MM-dd HH:mm:ss.fff')) (local time)"
    Start-Sleep -Milliseconds 1100
    $maria.Sql('DROP TABLE shop.orders;') | Out-Null
    Write-Host "  tables in shop now: '$($maria.Sql('SHOW TABLES FROM shop').Trim())'"
    Start-DbBackup main-db Binlog | Out-Null

    Step 'Get-DbRestorePlan: what a restore to just before the mistake takes, and the window'
    Get-DbRestorePlan -Target main-db -PointInTime $beforeMistake | Show

    Step 'Restore-DbToPointInTime -WhatIf: every step, nothing written'
    $restored = Join-Path $work 'restored'
    Restore-DbToPointInTime main-db $beforeMistake -Destination $restored -WhatIf

    Step 'Restore-DbToPointInTime: the table is back (in a new directory, validated on a temporary server)'
    $result = Restore-DbToPointInTime main-db $beforeMistake -Destination $restored -ValidationQuery 'SELECT COUNT(*) = 5 FROM shop.orders' -Confirm:$false
    $result | Show
    Write-Host "  shop.orders rows in the restore: $(($result.Tables | Where-Object Table -eq 'shop.orders').Rows)"
    Write-Host "  (the live server is left alone; with -Replace, once it is stopped, the restore is swapped in for its data directory)"

    Step 'Start-BinlogStream: seconds of loss, not minutes (its own replica connection, as its systemd service runs it)'
    # A copy of the policy with stream: for main-db, and the password in a 0600 file: the child gets no secret in its environment.
    $maria.Sql("GRANT REPLICATION SLAVE ON *.* TO 'backup'@'localhost'; CREATE TABLE shop.payments (id INT AUTO_INCREMENT PRIMARY KEY, amount INT) ENGINE=InnoDB;") | Out-Null
    $secret = Join-Path $work 'db.password'
    Set-Content $secret $maria.BackupPassword -NoNewline
    chmod 600 $secret
    $streamPolicy = Join-Path $work 'policy-stream.yml'
    (Get-Content $policy -Raw) -replace '    passwordEnv: DEMO_DB_PASSWORD', "    passwordFile: $secret`n    stream: { maxLag: 10s }" | Set-Content $streamPolicy
    $psi = [Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
    if ((Split-Path -Leaf ([Environment]::ProcessPath)) -like 'dotnet*') { $psi.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
    foreach ($a in @('-NoProfile', '-NonInteractive', '-Command', "Import-Module '$ModulePath'; Start-BinlogStream main-db -Policy '$streamPolicy' | ForEach-Object { '  sealed: ' + `$_.BinlogFile + ' ' + `$_.Status }")) { $psi.ArgumentList.Add($a) }
    $psi.Environment.Remove('DEMO_DB_PASSWORD') | Out-Null
    $psi.RedirectStandardOutput = $true
    $stream = [Diagnostics.Process]::Start($psi)
    $streamOut = $stream.StandardOutput.ReadToEndAsync()
    try {
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ([DateTime]::UtcNow -lt $deadline -and (Get-BackupStatus main-db -Policy $streamPolicy | Where-Object { $_ -is [BackupTools.Model.StreamStatus] }).State -ne 'Running') { Start-Sleep -Milliseconds 300 }
        $maria.Sql("INSERT INTO shop.payments (amount) VALUES (42);") | Out-Null
        $committed = Get-Date
        Start-Sleep -Seconds 2
        Get-BackupStatus main-db -Policy $streamPolicy | Where-Object { $_ -is [BackupTools.Model.StreamStatus] } | Format-Table Target, State, Severity, Lag, BytesBehind, File | Show
        Write-Host "  the server's replicas: $($maria.Sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").Trim()) (the stream's own connection; no mariadb-binlog runs: $(@(Get-Process mariadb-binlog -ErrorAction Ignore).Count) processes)"
        Write-Host "  committed at $($committed.ToString('HH:mm:ss.fff')); the latest restorable point:"
        Get-DbRestorePlan main-db -Latest -Policy $streamPolicy | Format-List PointInTime, StreamedBinlogs, Summary | Show
        $maria.Sql('FLUSH BINARY LOGS;') | Out-Null
        Start-Sleep -Seconds 2
        Write-Host '  FLUSH BINARY LOGS: the rotated file is sealed into a binlog set by the stream (the 15-minute archiving will not archive it again)'
        Get-DbBackup main-db -Type Binlog -Policy $streamPolicy | Select-Object -Last 1 | Format-Table Target, Type, Status, BinlogFile, StoredBytes | Show
    }
    finally {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        kill -INT $stream.Id
        if (-not $stream.WaitForExit(15000)) { $stream.Kill($true) }
    }
    Write-Host "  Ctrl+C (SIGINT): the stream stopped in $([math]::Round($clock.Elapsed.TotalSeconds, 1)) s; what it wrote out as it ran:"
    $streamOut.Result | Write-Host

    Step 'Remove-ExpiredBackup -WhatIf -AsOf (Get-Date).AddDays(40): what retention would remove in 40 days, and the window'
    Remove-ExpiredBackup -WhatIf -AsOf (Get-Date).AddDays(40)
    Write-Host "  kept, and why (-Verbose):"
    Remove-ExpiredBackup -WhatIf -AsOf (Get-Date).AddDays(40) -Verbose 4>&1 6>$null | Where-Object { $_ -is [Management.Automation.VerboseRecord] -and $_.Message -like 'Kept*' } |
        ForEach-Object { Write-Host "    $($_.Message)" }

    Step 'One flipped byte in the full backup is found'
    $full = Get-DbBackup -Type Full
    $file = Join-Path $full.Path 'backup.mbstream.zst'
    $bytes = [IO.File]::ReadAllBytes($file); $bytes[100] = $bytes[100] -bxor 1; [IO.File]::WriteAllBytes($file, $bytes)
    $full | Test-DbBackup -ErrorAction SilentlyContinue | Format-List Id, Status, File, Detail | Show

    Step 'Get-BackupStatus: the state at a glance (the wrong-password run above makes main-db full Critical)'
    $status = Get-BackupStatus
    $status | Where-Object { $_ -is [BackupTools.Model.BackupStatus] } | Out-String -Width 160 | Write-Host
    $status | Where-Object { $_ -is [BackupTools.Model.StorageStatus] } | Out-String -Width 160 | Write-Host

    Step 'A failed backup piped into Send-BackupAlert: what the on-call person receives (a local webhook stands in for Slack)'
    $inbox = [BackupTools.TestServers.HttpRecorder]::Start()
    $env:DEMO_SLACK_URL = "$($inbox.Url)/services/T000/B000/demo"
    (Get-Content $policy -Raw) -replace '(?m)^  routes:.*$', "  routes: { critical: [slack], warning: [slack] }`n  channels: { slack: { webhookUrlEnv: DEMO_SLACK_URL } }" | Set-Content $policy
    Start-DbBackup main-db -Credential $bad -ErrorAction SilentlyContinue | Send-BackupAlert | Format-Table Channel, Severity, Status, Message | Show
    $inbox.Requests | ForEach-Object { Write-Host "  Slack received: $(($_.Body | ConvertFrom-Json).text)" }
    Write-Host '  The same alert again within alerts.repeatEvery:'
    Start-DbBackup main-db -Credential $bad -ErrorAction SilentlyContinue | Send-BackupAlert | Format-Table Channel, Status, Error -Wrap | Show
    $inbox.Dispose()

    Step 'Export-BackupMetric: for node_exporter'
    $prom = Export-BackupMetric -Path (Join-Path $work 'backuptools.prom')
    Get-Content $prom | Select-String 'backuptools_state|storage_free' | ForEach-Object { Write-Host "  $_" }

    Step 'RESET MASTER (or a failover): the new mariadb-bin.000001 is archived on binlog timeline 2, not skipped as "already archived"'
    $maria.Sql('RESET MASTER; CREATE TABLE shop.after_reset (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO shop.after_reset VALUES (1);') | Out-Null
    Start-DbBackup main-db Binlog | Format-Table Id, BinlogFile, Timeline, Status | Show
    Write-Host "  Get-BackupStatus, binlog: $((Get-BackupStatus -Target main-db | Where-Object Type -eq binlog).Message)"
    Write-Host '  The next scheduled incremental is taken as a full on the new timeline, which restores the window:'
    Start-DbBackup main-db Incremental -Verbose 4>&1 | ForEach-Object {
        if ($_ -is [Management.Automation.VerboseRecord]) { if ($_.Message -like '*instead*') { Write-Host "    VERBOSE: $($_.Message)" } }
        else { $_ | Format-Table Id, Type, Timeline, Status | Show }
    }
    Write-Host "  binlog status now: $((Get-BackupStatus -Target main-db | Where-Object Type -eq binlog).State)"

    Step 'AI models: back up a small generated model twice (one file changes), list the versions'
    $modelDir = "$work/models/llm-main"
    New-Item -ItemType Directory "$modelDir/tokenizer" -Force | Out-Null
    '{ "version": "1.0", "layers": 4 }' | Set-Content "$modelDir/config.json"
    [IO.File]::WriteAllBytes("$modelDir/model.safetensors", [byte[]]::new(8MB))
    'vocab v1' | Set-Content "$modelDir/tokenizer/vocab.txt"
    Backup-AiModel -Name llm-main | Show
    '{ "version": "1.1", "layers": 4 }' | Set-Content "$modelDir/config.json"
    'vocab v2' | Set-Content "$modelDir/tokenizer/vocab.txt"
    Backup-AiModel -Name llm-main | Show
    Get-AiModelBackup | Show

    Step 'Restore-AiModel 1.0 with a validation script (the swap is rolled back when it returns $false)'
    Restore-AiModel llm-main 1.0 -ValidationScript { param($dir) (Get-Content "$dir/config.json" -Raw) -match '"1.0"' } -Confirm:$false |
        Format-List Name, Version, Destination, Validated, Steps | Show
    Write-Host "  tokenizer/vocab.txt is now: $(Get-Content "$modelDir/tokenizer/vocab.txt")"

    Step 'Training data: 3,000 small files go into packs, a 70 MB checkpoint shard into 4 MB chunks; one tensor changed stores one chunk'
    $train = "$work/training"
    $random = [Random]::new(7)
    foreach ($i in 0..2999) {
        if ($i -lt 10) { New-Item -ItemType Directory ('{0}/shard{1:D3}' -f $train, $i) -Force | Out-Null }
        $bytes = [byte[]]::new($random.Next(2KB, 8KB)); $random.NextBytes($bytes)
        [IO.File]::WriteAllBytes(('{0}/shard{1:D3}/part-{2:D5}.jsonl' -f $train, ($i % 10), $i), $bytes)
    }
    $checkpoint = [byte[]]::new(70MB); $random.NextBytes($checkpoint)
    [IO.File]::WriteAllBytes("$train/model-00001-of-00001.safetensors", $checkpoint)
    Backup-AiModel -Name training -Path $train -Version 1 | Format-Table Name, Version, Status, Files, RawBytes, NewBytes, Duration | Show
    Write-Host "  packs: $(@(Get-ChildItem "$work/repo/models/training/packs" -Filter *.pack).Count) for 3,000 files; chunk blobs: $(@(Get-ChildItem "$work/repo/models/training/blobs" -Recurse -File).Count)"
    $f = [IO.File]::OpenWrite("$train/model-00001-of-00001.safetensors"); $f.Position = 20MB; $f.Write([byte[]]::new(100), 0, 100); $f.Dispose()
    Backup-AiModel -Name training -Path $train -Version 2 | Format-Table Name, Version, Status, Files, NewBytes | Show
    Test-AiModelBackup training -ReadData 10 | Format-Table Id, Status, FilesChecked, BytesChecked, Detail | Show
    Restore-AiModel training 2 -Path 'shard003/*' -Destination "$work/restored-shard003" -Confirm:$false | Out-Null
    Write-Host "  Restore-AiModel -Path 'shard003/*': $(@(Get-ChildItem "$work/restored-shard003" -Recurse -File).Count) files restored"

    Step 'Redis: a snapshot over the replication protocol, then a restore into a new server'
    foreach ($i in 1..1000) { $null = $redis.Command("SET user:$i session-$i") }
    $null = $redis.Command('HSET settings theme dark lang en')
    $null = $redis.Command('SET temporary x EX 3600')
    $snap = Start-DbBackup cache
    $snap | Show
    Write-Host "  The manifest recorded $((Get-Content (Join-Path $snap.Path 'manifest.json') -Raw | ConvertFrom-Json).engineFields.'db0.keys') keys in db0, checked against the dump's CRC-64."
    $null = $redis.Command('FLUSHALL')
    Write-Host "  FLUSHALL on the live server: DBSIZE is now $($redis.Command('DBSIZE').Trim())"
    $restoreDir = "$work/redis-restored"
    Restore-DbToPointInTime cache (Get-Date) -Destination $restoreDir | Format-List Plan, RestoredTo, Validation | Show
    $second = [BackupTools.TestServers.RedisServer]::Start($restoreDir)
    Write-Host "  A second redis-server started on $restoreDir has DBSIZE $($second.Command('DBSIZE').Trim()) and settings.theme = $(($second.Command('HGET settings theme') -split "`r`n")[1])"
    $second.Dispose()

    Step 'Config files in Git: back up a folder, edit a file, back up again, show the history, restore the old version'
    $conf = "$work/etc-demo"
    New-Item -ItemType Directory "$conf/app" -Force | Out-Null
    "port = 8080`nworkers = 4`n" | Set-Content "$conf/app/app.conf" -NoNewline
    'not for git' | Set-Content "$conf/app/server.key"
    Backup-ConfigFile -Path $conf -WarningAction Continue | Show
    "port = 9090`nworkers = 8`n" | Set-Content "$conf/app/app.conf" -NoNewline
    Backup-ConfigFile -Path $conf -Message 'app: move to port 9090' | Show
    Get-ConfigFileHistory -Path "$conf/app/app.conf" | Show
    $first = Get-ConfigFileHistory -Path "$conf/app/app.conf" | Where-Object Change -eq Added
    Restore-ConfigFile -Path "$conf/app/app.conf" -Commit $first.Commit -WhatIf
    $first | Restore-ConfigFile -Confirm:$false | Show
    Write-Host "  app.conf is now: $((Get-Content "$conf/app/app.conf") -join '; ')"
    Write-Host "  git log of the config history:"
    git -C "$work/repo/config" log --oneline | ForEach-Object { Write-Host "    $_" }

    Step 'The whole platform at one point: the database, the cache, the model deployed then and its config, side by side'
    # A platform's config must be what config.paths backs up: the demo's folder joins them.
    (Get-Content $policy -Raw).Replace('paths: [/etc/hostname]', "paths: [/etc/hostname, $conf]") | Set-Content $policy
    "platform: { targets: [main-db, cache], models: [llm-main], config: [$conf], rto: 1h }" | Add-Content $policy
    $maria.Sql("INSERT INTO shop.after_reset VALUES (2);") | Out-Null
    $null = Start-DbBackup main-db Binlog
    Start-Sleep -Milliseconds 1100
    $point = Get-Date
    Start-Sleep -Milliseconds 1100
    $maria.Sql("INSERT INTO shop.after_reset VALUES (3);") | Out-Null
    $null = Start-DbBackup main-db Binlog
    Write-Host "  The point: $($point.ToString('HH:mm:ss')) local time. Where each part lands, and what it reads:"
    Get-PlatformRestorePlan -AsOf $point -Destination "$work/platform-restore" | Select-Object -ExpandProperty Parts | Out-String -Width 200 | Write-Host
    Write-Host '  Restore-Platform: every part beside the live one, in parallel where they share no server, then a check of the whole:'
    Restore-Platform -AsOf $point -Destination "$work/platform-restore" -Confirm:$false -ValidationScript {
        param($parts)
        (Test-Path (Join-Path $parts['llm-main'] 'config.json')) -and (Test-Path (Join-Path $parts['cache'] 'dump.rdb'))
    } | Show

    Step 'Test-Platform: a drill at a random point of the window, into scratch, timed and recorded; the objectives it measures'
    Test-Platform | Format-List AsOf, Succeeded, Duration, SumOfParts | Show
    Get-BackupStatus | Where-Object { $_ -is [BackupTools.Model.RecoveryStatus] } | Out-String -Width 170 | Write-Host
    $page = Get-BackupStatus -Report "$work/status.html"
    Write-Host "  Get-BackupStatus -Report wrote $($page.FullName) ($($page.Length) bytes, inline SVG charts, no script): the weekly page for the team."

    Step 'Register-BackupSchedule -WhatIf: the cron jobs that would run all of this'
    Register-BackupSchedule -PwshPath /usr/bin/pwsh -WhatIf

    Step 'Get-BackupRepository'
    Get-BackupRepository | Show
}
finally {
    Step 'Stop what the demo started'
    if ($redis) { $redis.Dispose(); Write-Host "redis-server stopped" }
    if ($maria) { $maria.Dispose(); Write-Host "mariadbd stopped" }
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
