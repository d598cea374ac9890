BeforeAll {
    . $PSScriptRoot/Common.ps1
    # Runs one of our cron lines the way cron does: /bin/sh -c with cron's minimal environment.
    function Invoke-AsCron([string] $CronFile, [string] $Job) {
        $line = Get-Content $CronFile | Where-Object { $_ -like "*# backuptools:$Job *" }
        $line | Should -Not -BeNullOrEmpty -Because "the job $Job is registered"
        $command = ($line -split ' ', 7)[6]          # after the 5 time fields and the user field
        & /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LOGNAME=root SHELL=/bin/sh /bin/sh -c $command
        $LASTEXITCODE
    }
}

Describe 'Register-BackupSchedule, Get-BackupSchedule, Unregister-BackupSchedule (cron)' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        # cron passes no environment: the password comes from a 0600 file, and alerts go to a webhook we can read.
        $secret = Join-Path $dir 'db.password'
        Set-Content $secret $env:BT_TEST_DB_PASSWORD -NoNewline
        chmod 600 $secret
        $recorder = [BackupTools.TestServers.HttpRecorder]::Start()
        # Something for the search snapshot to hold: a snapshot of nothing is a failure.
        $global:BackupToolsTestServers.Elasticsearch.Indices['schedule-test'] = 'open'
        (Get-Content $policy -Raw) -replace 'passwordEnv: BT_TEST_DB_PASSWORD', "passwordFile: $secret" `
            -replace 'channels: \{\}', "routes: { critical: [webhook], warning: [webhook] }`n  channels: { webhook: { url: '$($recorder.Url)/hook' } }`n  heartbeat: { url: '$($recorder.Url)/hc/check-1' }" `
            -replace 'snapshotRepository: backups', "snapshotRepository: backups`n    snapshotRepositorySettings: { type: fs, location: /mnt/es }" | Set-Content $policy
        "`nmetrics: { path: $dir/backuptools.prom }`nconfig: { paths: [$dir/etc] }`nmodels: { llm: { path: $dir/models/llm } }" | Add-Content $policy
        "platform: { targets: [main-db, cache], models: [llm], config: [$dir/etc] }" | Add-Content $policy
        New-Item -ItemType Directory "$dir/models/llm" -Force | Out-Null
        '{ "version": "1.0" }' | Set-Content "$dir/models/llm/config.json"
        # A scheduled target no job here ever backs up: the status job always has a Warning to send, whatever the
        # free space of the machine (the storage thresholds alone would make this test depend on the disk).
        (Get-Content $policy -Raw) -replace '(?m)^  search:', "  cold:`n    engine: redis`n    host: 127.0.0.1`n    port: $($global:BackupToolsTestServers.Redis.Port)`n    schedule: { snapshot: `"0 * * * *`" }`n  search:" | Set-Content $policy
        New-Item -ItemType Directory "$dir/etc" | Out-Null
        'a = 1' | Set-Content "$dir/etc/app.conf"
        # An offsite repository (Azurite) whose secret is a 0600 file, as cron gives no environment.
        $azurite = [BackupTools.TestServers.AzuriteServer]::Start((Join-Path $dir 'azurite'))
        $connFile = Join-Path $dir 'azure.conn'
        Set-Content $connFile $azurite.ConnectionString -NoNewline
        chmod 600 $connFile
        $key = New-BackupEncryptionKey (Join-Path $dir 'backup.key')
        "offsite:`n  away: { kind: azureBlob, connectionStringFile: $connFile, container: cron, copies: [cache, llm, config] }`nencryption: { keyFile: $($key.Path) }" | Add-Content $policy
        $cron = Join-Path $dir 'backuptools'
        $foreign = '17 1 * * * root /usr/local/bin/other-job # not ours'
        Set-Content $cron $foreign
        # pwsh as cron would start it: an absolute program (here: dotnet with this pwsh.dll, behind a tiny script).
        $pwsh = Join-Path $dir 'pwsh'
        Set-Content $pwsh "#!/bin/sh`nexec '$([Environment]::ProcessPath)' '$(Join-Path $PSHOME 'pwsh.dll')' `"`$@`""
        chmod 755 $pwsh
        $registered = Register-BackupSchedule -Policy $policy -CronFile $cron -PwshPath $pwsh
    }
    AfterAll {
        $recorder.Dispose()
        $azurite.Dispose()
    }

    It 'writes every job in the form cron accepts, beside the foreign line' {
        $registered.Name | Should -Contain 'main-db-full'
        $registered.Name | Should -Contain 'status-alerts'
        $registered.Name | Should -Contain 'retention'
        $item = Get-Item $cron
        (stat -c '%a %U' $cron) | Should -Be '644 root'
        $item.Name | Should -Not -Match '\.' -Because 'cron.d ignores file names with a dot'
        [IO.File]::ReadAllText($cron) | Should -Match "`n$" -Because 'cron ignores a last line without a newline'
        $lines = Get-Content $cron
        $lines[0] | Should -Be $foreign
        foreach ($l in $lines | Select-Object -Skip 1) {
            ($l -split ' ')[5] | Should -Be 'root'
            ($l -split ' ')[6] | Should -Be "'$pwsh'"
            $l | Should -Match " target=\S+ policy=$([regex]::Escape($policy))$" -Because 'each line says whose it is'

            $l | Should -Match "# backuptools:"
        }
    }

    It 'is idempotent, lists the jobs with their next run, and -WhatIf writes nothing' {
        $before = [IO.File]::ReadAllText($cron)
        $null = Register-BackupSchedule -Policy $policy -CronFile $cron -PwshPath $pwsh
        [IO.File]::ReadAllText($cron) | Should -Be $before
        Register-BackupSchedule -Policy $policy -CronFile (Join-Path $dir 'never') -PwshPath $pwsh -WhatIf
        Test-Path (Join-Path $dir 'never') | Should -BeFalse
        $listed = Get-BackupSchedule -CronFile $cron
        $listed.Name | Should -Be $registered.Name
        $listed | ForEach-Object { $_.NextRun | Should -BeGreaterThan (Get-Date) }
    }

    It 'runs a backup job the way cron does, logs it, and exits 0' {
        Invoke-AsCron $cron 'main-db-full' | Should -Be 0
        (Get-DbBackup -Target main-db -Type Full -Policy $policy).Count | Should -Be 1
        Get-Content (Join-Path $dir 'repo/_logs/main-db-full.log') -Raw | Should -Match '=== .* main-db-full'
    }

    It 'runs every other generated job the way cron does, each exiting 0 and doing its work' {
        # Before the drill, a transaction a second after the model's first version, archived by the binlog job: the
        # platform's parts must share a point, and binary-log time has one-second resolution.
        foreach ($job in 'main-db-incremental', 'main-db-binlog', 'cache-snapshot', 'search-snapshot', 'config-files', 'metrics', 'main-db-test-restore', 'cache-test-restore', 'readiness', 'model-llm', 'platform-drill') {
            if ($job -eq 'platform-drill') {
                Start-Sleep -Milliseconds 1100
                $global:BackupToolsTestServers.MariaDb.Sql('CREATE DATABASE IF NOT EXISTS sched_drill; CREATE TABLE IF NOT EXISTS sched_drill.t (n INT) ENGINE=InnoDB; INSERT INTO sched_drill.t VALUES (1);') | Out-Null
                Invoke-AsCron $cron 'main-db-binlog' | Should -Be 0
            }
            $code = Invoke-AsCron $cron $job
            $code | Should -Be 0 -Because "the $job job should succeed; its log: $(Get-Content (Join-Path $dir "repo/_logs/$job.log") -Raw -ErrorAction Ignore)"
        }
        (Get-DbBackup -Target main-db -Type Incremental -Policy $policy).Count | Should -Be 1
        (Get-DbBackup -Target main-db -Type Binlog -Policy $policy).Count | Should -BeGreaterThan 0
        (Get-DbBackup -Target cache -Policy $policy).Count | Should -Be 1
        (Get-DbBackup -Target search -Policy $policy).Count | Should -Be 1
        (Get-ConfigFileHistory -Policy $policy).Path | Should -Contain "$dir/etc/app.conf"
        Get-Content "$dir/backuptools.prom" -Raw | Should -Match 'backuptools_'
        (Get-AiModelBackup -Name llm -Policy $policy).Version | Should -Be '1.0'
        # The weekly drill restored the whole platform into scratch, recorded it, and left no scratch behind.
        $platform = Get-BackupStatus -Policy $policy -WarningAction SilentlyContinue | Where-Object { $_ -is [BackupTools.Model.RecoveryStatus] -and $_.Part -eq 'platform' }
        $platform.LastDrillSucceeded | Should -BeTrue -Because (Get-Content (Join-Path $dir 'repo/_logs/platform-drill.log') -Raw)
        Get-ChildItem (Join-Path $dir 'repo/_scratch') -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'runs the status and retention jobs the way cron does' {
        Invoke-AsCron $cron 'status-alerts' | Should -Be 0
        $hooks = @($recorder.Requests | Where-Object Path -eq '/hook')
        $hooks.Body -match 'TEST from BackupTools' | Should -Not -BeNullOrEmpty -Because 'the first status run after registering sends a test message through every channel'
        $hooks.Body -match 'cold snapshot' | Should -Not -BeNullOrEmpty -Because 'the status job pipes into Send-BackupAlert (cold has never been backed up)'
        while ($recorder.Requests.TryDequeue([ref]$null)) { }
        Invoke-AsCron $cron 'status-alerts' | Should -Be 0
        @($recorder.Requests | Where-Object { $_.Path -eq '/hook' -and $_.Body -match 'TEST from' }).Count | Should -Be 0 -Because 'the test message goes out once'
        Invoke-AsCron $cron 'retention' | Should -Be 0
        Get-Content (Join-Path $dir 'repo/_logs/retention.log') -Raw | Should -Match 'main-db: removed 0 backup'
    }

    It 'runs the offsite copy, its weekly drill from the offsite copy and the offsite retention the way cron does' {
        Invoke-AsCron $cron 'offsite-away' | Should -Be 0 -Because "its log: $(Get-Content (Join-Path $dir 'repo/_logs/offsite-away.log') -Raw -ErrorAction Ignore)"
        $copied = @(Get-DbBackup -Target cache -Offsite away -Policy $policy)
        $copied.Count | Should -Be (@(Get-DbBackup -Target cache -Policy $policy).Count)
        (Get-AiModelBackup -Offsite away -Policy $policy).Version | Should -Be '1.0'
        @(Get-ConfigFileHistory -Offsite away -Policy $policy).Count | Should -BeGreaterOrEqual 1
        (Get-BackupStatus -Policy $policy | Where-Object { $_ -is [BackupTools.Model.OffsiteStatus] }).PendingSets | Should -Be 0
        Invoke-AsCron $cron 'offsite-away-drill-cache' | Should -Be 0 -Because "its log: $(Get-Content (Join-Path $dir 'repo/_logs/offsite-away-drill-cache.log') -Raw -ErrorAction Ignore)"
        Invoke-AsCron $cron 'retention' | Should -Be 0
        @(Get-DbBackup -Target cache -Offsite away -Policy $policy).Count | Should -Be $copied.Count -Because 'nothing there is old enough to go'
    }

    It 'pings the heartbeat at the start and the end of every job, and /fail with the first error when it fails' {
        while ($recorder.Requests.TryDequeue([ref]$null)) { }
        Invoke-AsCron $cron 'main-db-binlog' | Should -Be 0
        $pings = @($recorder.Requests | Where-Object Path -like '/hc/*')
        $pings.Path | Should -Be @('/hc/check-1/start', '/hc/check-1')
        $pings[1].Body | Should -Match '^main-db-binlog success on \S+ after [\d.]+ s'
        while ($recorder.Requests.TryDequeue([ref]$null)) { }
        (Get-Content $policy -Raw) -replace 'passwordFile: .*', 'passwordEnv: BT_TEST_NO_SUCH_VARIABLE' | Set-Content (Join-Path $dir 'failing.yml')
        $failingCron = Join-Path $dir 'failing'
        $null = Register-BackupSchedule main-db -Policy (Join-Path $dir 'failing.yml') -CronFile $failingCron -PwshPath $pwsh -Force 3>$null
        Invoke-AsCron $failingCron 'main-db-binlog' | Should -Be 1
        $pings = @($recorder.Requests | Where-Object Path -like '/hc/*')
        $pings.Path | Should -Be @('/hc/check-1/start', '/hc/check-1/fail')
        $pings[1].Body | Should -Match 'main-db-binlog fail .*BT_TEST_NO_SUCH_VARIABLE'
    }

    It 'exits non-zero when the job fails' {
        (Get-Content $policy -Raw) -replace 'passwordFile: .*', 'passwordEnv: BT_TEST_NO_SUCH_VARIABLE' | Set-Content (Join-Path $dir 'bad.yml')
        $badCron = Join-Path $dir 'bad'
        $null = Register-BackupSchedule main-db -Policy (Join-Path $dir 'bad.yml') -CronFile $badCron -PwshPath $pwsh -Force 3>$null
        Invoke-AsCron $badCron 'main-db-full' | Should -Be 1
        Get-Content (Join-Path $dir 'repo/_logs/main-db-full.log') -Raw | Should -Match 'BT_TEST_NO_SUCH_VARIABLE'
    }

    It 'skips, not fails, a job whose target is still being backed up' {
        $lockDir = Join-Path $dir 'repo/_locks'
        # A live lease held by this test process, in the repository's lock format.
        $lease = [ordered]@{ host = [Environment]::MachineName; processId = $PID; processStartTime = (Get-Process -Id $PID).StartTime.ToUniversalTime().ToString('o');
                             startTime = [DateTime]::UtcNow.ToString('o'); expires = [DateTime]::UtcNow.AddMinutes(5).ToString('o'); runId = 'pester' } | ConvertTo-Json -Compress
        Set-Content (Join-Path $lockDir 'mariadb-main-db.lock') $lease
        try {
            Invoke-AsCron $cron 'main-db-full' | Should -Be 0
            Get-ChildItem (Join-Path $dir 'repo/_journal') -Filter '*.jsonl' | Get-Content | ConvertFrom-Json |
                Where-Object { $_.status -eq 'Skipped' -and $_.target -eq 'main-db' } | Should -Not -BeNullOrEmpty
            (Get-DbBackup -Target main-db -Type Full -Policy $policy).Count | Should -Be 1 -Because 'no second backup ran'
        }
        finally { Remove-Item (Join-Path $lockDir 'mariadb-main-db.lock') -ErrorAction Ignore }
    }

    It 'without -PwshPath starts pwsh the way this session runs (here: dotnet with pwsh.dll), and a job runs as cron runs it' {
        $default = Join-Path $dir 'default-launcher'
        $null = Register-BackupSchedule main-db -Policy $policy -CronFile $default
        $line = Get-Content $default | Where-Object { $_ -like '*# backuptools:main-db-binlog *' }
        $line | Should -Not -BeNullOrEmpty
        $line | Should -Not -Match "^(\S+ ){6}'[^']*dotnet' -NoProfile" -Because 'dotnet rejects -NoProfile: the launcher must name pwsh.dll (or a pwsh program)'
        Invoke-AsCron $default 'main-db-binlog' | Should -Be 0
    }

    It 'refuses to register, writing nothing, when a job started as cron starts it cannot load the module' {
        $refused = Join-Path $dir 'refused'
        Set-Content $refused '# untouched'
        $err = { Register-BackupSchedule -Policy $policy -CronFile $refused -PwshPath /bin/false } | Should -Throw -PassThru
        $err.Exception.Message | Should -Match 'the way cron starts it'
        Get-Content $refused | Should -Be '# untouched'
    }

    It 'refuses to register when a target is not ready (here: its password is unavailable), unless -Force' {
        (Get-Content $policy -Raw) -replace 'passwordFile: .*', 'passwordEnv: BT_TEST_NO_SUCH_VARIABLE' | Set-Content (Join-Path $dir 'unready.yml')
        $unready = Join-Path $dir 'unready'
        $err = { Register-BackupSchedule main-db -Policy (Join-Path $dir 'unready.yml') -CronFile $unready -PwshPath $pwsh } | Should -Throw -PassThru
        $err.Exception.Message | Should -Match 'Nothing was registered: the first runs would fail'
        $err.Exception.Message | Should -Match 'main-db password: .*BT_TEST_NO_SUCH_VARIABLE'
        $err.Exception.Message | Should -Match 'main-db secret from the environment: .*which scheduled jobs do not have.*passwordFile'
        Test-Path $unready | Should -BeFalse
        $null = Register-BackupSchedule main-db -Policy (Join-Path $dir 'unready.yml') -CronFile $unready -PwshPath $pwsh -Force -WarningVariable warned 3>$null
        "$warned" | Should -Match 'despite readiness errors'
        (Get-BackupSchedule -CronFile $unready).Count | Should -BeGreaterThan 0
    }

    It 'keeps two policies'' jobs apart on one host, and Get-/Unregister-BackupSchedule take -Policy' {
        $shared = Join-Path $dir 'shared'
        $other = Join-Path $dir 'other.yml'
        (Get-Content $policy -Raw) -replace '(?m)^repository: .*$', "repository: $dir/other-repo" | Set-Content $other
        $a = Register-BackupSchedule -Policy $policy -CronFile $shared -PwshPath $pwsh
        $b = Register-BackupSchedule -Policy $other -CronFile $shared -PwshPath $pwsh
        $all = Get-BackupSchedule -CronFile $shared
        $all.Count | Should -Be ($a.Count + $b.Count)
        (Get-BackupSchedule -CronFile $shared -Policy $other).Count | Should -Be $b.Count
        # Registering one policy again replaces its lines only.
        $null = Register-BackupSchedule main-db -Policy $policy -CronFile $shared -PwshPath $pwsh
        (Get-BackupSchedule -CronFile $shared -Policy $other).Count | Should -Be $b.Count
        (Get-BackupSchedule -CronFile $shared -Policy $policy).Count | Should -Be $a.Count
        $gone = Unregister-BackupSchedule -CronFile $shared -Policy $other -Confirm:$false
        $gone.Count | Should -Be $b.Count
        (Get-BackupSchedule -CronFile $shared).Policy | Sort-Object -Unique | Should -Be $policy
        (Get-BackupSchedule main-db -CronFile $shared).Target | Sort-Object -Unique | Should -Be 'main-db'
    }

    It 'Unregister removes only our lines, or one target''s' {
        $gone = Unregister-BackupSchedule main-db -CronFile $cron -Confirm:$false
        $gone.Name | Should -Contain 'main-db-full'
        (Get-BackupSchedule -CronFile $cron).Name | Should -Not -Contain 'main-db-full'
        (Get-BackupSchedule -CronFile $cron).Name | Should -Contain 'retention'
        $null = Unregister-BackupSchedule -CronFile $cron -Confirm:$false
        Get-Content $cron | Should -Be @($foreign)
    }
}

Describe 'Azure Automation runbook samples' {
    It '<_> parses and calls only BackupTools cmdlets and Automation asset cmdlets' -ForEach @(Get-ChildItem (Join-Path $PSScriptRoot '../../docs/runbooks') -Filter '*.ps1' | ForEach-Object FullName) {
        $tokens = $errors = $null
        $ast = [Management.Automation.Language.Parser]::ParseFile($_, [ref]$tokens, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        $exported = (Import-PowerShellDataFile $env:BACKUPTOOLS_TEST_MODULE).CmdletsToExport
        $allowed = $exported + @('Import-Module', 'Get-AutomationVariable', 'Get-AutomationPSCredential', 'Where-Object', 'Remove-Item')
        $ast.FindAll({ $args[0] -is [Management.Automation.Language.CommandAst] }, $true) | ForEach-Object {
            $_.GetCommandName() | Should -BeIn $allowed
        }
        @($ast.FindAll({ $args[0] -is [Management.Automation.Language.CommandAst] }, $true) | Where-Object { $_.GetCommandName() -in $exported }).Count |
            Should -BeGreaterThan 0
    }
}
