BeforeAll { . $PSScriptRoot/Common.ps1 }

# A platform of a real MariaDB, a real Redis, a model and config files, each changed at known times; restored to two
# points, every part must be what it was at that point (and not what it was a second later).
Describe 'Get-PlatformRestorePlan and Restore-Platform' {
    BeforeAll {
        $db = $global:BackupToolsTestServers.MariaDb
        $redis = $global:BackupToolsTestServers.Redis
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $model = Join-Path $dir 'models/llm'
        $etc = Join-Path $dir 'etc/llm'
        New-Item -ItemType Directory $model, $etc | Out-Null
        "`nmodels:`n  llm: { path: $model }`nconfig:`n  paths: [$etc]`nplatform:`n  targets: [main-db, cache]`n  models: [llm]`n  config: [$etc]" | Add-Content $policy
        $tag = [guid]::NewGuid().ToString('N').Substring(0, 8)
        $table = "plat_$tag.items"
        function Write-Point([int] $n) {
            $db.Sql("INSERT INTO $table (n, v) VALUES ($n, SHA2(RAND(), 256));") | Out-Null
            $redis.Command("SET plat:${tag}:$n $n") | Out-Null
            $null = Start-DbBackup cache -Policy $policy
            [IO.File]::WriteAllBytes((Join-Path $model 'weights.bin'), [byte[]](1..200 | ForEach-Object { ($_ * $n) % 256 }))
            "1.$n" | Set-Content (Join-Path $model 'VERSION')
            $null = Backup-AiModel llm -Policy $policy
            "workers=$n`n" | Set-Content (Join-Path $etc 'app.conf') -NoNewline
            $null = Backup-ConfigFile -Policy $policy -WarningAction SilentlyContinue
        }
        $db.Sql("CREATE DATABASE plat_$tag; CREATE TABLE $table (n INT PRIMARY KEY, v CHAR(64)) ENGINE=InnoDB;") | Out-Null
        $null = Start-DbBackup main-db -Policy $policy
        Write-Point 1
        $weights1 = [IO.File]::ReadAllBytes((Join-Path $model 'weights.bin'))
        Start-Sleep -Milliseconds 1100
        $t1 = [DateTime]::UtcNow
        Start-Sleep -Milliseconds 1100
        Write-Point 2
        $weights2 = [IO.File]::ReadAllBytes((Join-Path $model 'weights.bin'))
        Start-Sleep -Milliseconds 1100
        $t2 = [DateTime]::UtcNow
        Start-Sleep -Milliseconds 1100
        Write-Point 3   # after both points: none of it may come back
        $null = Start-DbBackup main-db Binlog -Policy $policy
        $snapshots = Get-DbBackup -Target cache -Policy $policy | Sort-Object EndTime

        # The rows as of a point, by content: a real mariadbd on the restored data directory against the live rows.
        $digest = "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', n, v))), 0) FROM $table"
        function Get-RestoredDigest([string] $dataDirectory) {
            $server = [BackupTools.TestServers.MariaDbServer]::StartOn($dataDirectory, (Join-Path $dir "digest-$([guid]::NewGuid().ToString('N').Substring(0, 6))"))
            try { $server.Sql($digest).Trim() } finally { $server.Dispose() }
        }
        function Get-RedisKeys([string] $dumpDirectory) {
            # A real redis-server loads the restored dump: the keys are what a server started on it would serve.
            $server = [BackupTools.TestServers.RedisServer]::Start($dumpDirectory)
            try { ($server.Command("KEYS plat:${tag}:*") -split "`r?`n" | Where-Object { $_ -like 'plat:*' } | Sort-Object) -join ',' }
            finally { $server.Dispose() }
        }
    }

    It 'plans every part at the point: MariaDB at 0 s, Redis from the snapshot before it, the model deployed then, config as of then' {
        $plan = Get-PlatformRestorePlan -AsOf $t1 -Destination (Join-Path $dir 'plan-only') -Policy $policy
        $plan | Should -BeOfType ([BackupTools.Model.PlatformRestorePlan])
        $plan.Restorable | Should -BeTrue
        $plan.Parts.Part | Should -Be @('main-db', 'cache', 'llm', $etc)
        $parts = @{}; $plan.Parts | ForEach-Object { $parts[$_.Part] = $_ }
        $parts['main-db'].Offset | Should -Be ([TimeSpan]::Zero)
        $s1 = $snapshots | Where-Object EndTime -le $t1 | Select-Object -Last 1
        $parts['cache'].LandsAt | Should -Be $s1.EndTime
        $parts['cache'].Offset | Should -BeLessThan ([TimeSpan]::Zero)
        $parts['cache'].Reads | Should -Match $s1.Id
        $parts['llm'].Reads | Should -Match '^version 1\.1, deployed'
        $parts['llm'].Offset | Should -Be ([TimeSpan]::Zero)
        $parts[$etc].LandsAt | Should -BeLessOrEqual $t1
        $parts['main-db'].Group | Should -Not -Be $parts['cache'].Group
        Test-Path (Join-Path $dir 'plan-only') | Should -BeFalse -Because 'a plan touches nothing'
        ($plan | Out-String) | Should -Match 'main-db: 0 s from the point'
        ($plan.Parts | Format-Table | Out-String) | Should -Match 'LandsAt \(UTC\)'
    }

    It 'restores every part to the first point, in parallel, each where the plan said and as it was then' {
        $dest = Join-Path $dir 'at-t1'
        $r = Restore-Platform -AsOf $t1 -Destination $dest -Policy $policy -Confirm:$false -ValidationScript {
            param($parts)
            (Test-Path (Join-Path $parts['llm'] 'weights.bin')) -and (Test-Path (Join-Path $parts['cache'] 'dump.rdb'))
        }
        $r | Should -BeOfType ([BackupTools.Model.PlatformRestoreResult])
        $r.Error | Should -BeNullOrEmpty
        $r.Succeeded | Should -BeTrue
        $r.Validated | Should -BeTrue
        $r.Parts | ForEach-Object { $_.Succeeded | Should -BeTrue -Because "$($_.Part): $($_.Error)" }
        $byPart = @{}; $r.Parts | ForEach-Object { $byPart[$_.Part] = $_ }
        # MariaDB: exactly the row written before the point, byte for byte.
        ($byPart['main-db'].Detail.Tables | Where-Object Table -eq $table).Rows | Should -Be 1
        Get-RestoredDigest $byPart['main-db'].Destination | Should -Be $db.Sql("$digest WHERE n <= 1").Trim()
        $byPart['main-db'].Destination | Should -Be (Join-Path $dest 'main-db')
        # Redis: the keys of the snapshot before the point.
        Get-RedisKeys $byPart['cache'].Destination | Should -Be "plat:${tag}:1"
        # The model deployed at the point, byte for byte.
        [IO.File]::ReadAllBytes((Join-Path $dest 'models/llm/weights.bin')) | Should -Be $weights1
        Get-Content (Join-Path $dest 'models/llm/VERSION') | Should -Be '1.1'
        # Config as of the point.
        Get-Content -Raw (Join-Path $dest ('config' + $etc + '/app.conf')) | Should -Be "workers=1`n"
        # The parts ran at the same time: from the first part's start to the last one's end took less than the parts one
        # after another. (Not the whole's Duration: it adds planning and the whole's validation, which on a fast machine
        # outweigh parts of a few milliseconds, so that comparison failed there while the parts did overlap.)
        $first = ($r.Parts | Measure-Object -Minimum { $_.Started.Ticks }).Minimum
        $last = ($r.Parts | Measure-Object -Maximum { ($_.Started + $_.Duration).Ticks }).Maximum
        $span = [TimeSpan]::FromTicks($last - $first)
        $span | Should -BeLessThan $r.SumOfParts
    }

    It 'restores the second point: one more row, the second snapshot, the second model version and config' {
        $dest = Join-Path $dir 'at-t2'
        $r = Restore-Platform $t2 $dest -Policy $policy -Confirm:$false
        $r.Succeeded | Should -BeTrue -Because $r.Error
        $byPart = @{}; $r.Parts | ForEach-Object { $byPart[$_.Part] = $_ }
        ($byPart['main-db'].Detail.Tables | Where-Object Table -eq $table).Rows | Should -Be 2
        Get-RestoredDigest $byPart['main-db'].Destination | Should -Be $db.Sql("$digest WHERE n <= 2").Trim()
        Get-RedisKeys $byPart['cache'].Destination | Should -Be "plat:${tag}:1,plat:${tag}:2"
        [IO.File]::ReadAllBytes((Join-Path $dest 'models/llm/weights.bin')) | Should -Be $weights2
        Get-Content -Raw (Join-Path $dest ('config' + $etc + '/app.conf')) | Should -Be "workers=2`n"
        $r.Validated | Should -BeNullOrEmpty -Because 'no -ValidationScript was given'
    }

    It 'a validation of the whole that returns false fails the restore, and says so' {
        $dest = Join-Path $dir 'whole-false'
        $r = Restore-Platform $t2 $dest -Policy $policy -Confirm:$false -ValidationScript { $false } -ErrorVariable errs -ErrorAction SilentlyContinue
        $r.Succeeded | Should -BeFalse
        $r.Validated | Should -BeFalse
        $errs[0].FullyQualifiedErrorId | Should -Be 'PlatformRestoreFailed,BackupTools.Commands.RestorePlatformCommand'
        $errs[0].ToString() | Should -Match 'validation of the whole platform'
    }

    It '-WhatIf lists every part and touches nothing' {
        $dest = Join-Path $dir 'whatif'
        $command = "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; `$env:BT_TEST_DB_PASSWORD = '$($db.BackupPassword)'; Restore-Platform ([DateTime]::Parse('$($t1.ToString('o'))').ToUniversalTime()) -Destination '$dest' -Policy '$policy' -WhatIf"
        $out = & ([Environment]::ProcessPath) (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command $command | Out-String
        $LASTEXITCODE | Should -Be 0
        Test-Path $dest | Should -BeFalse
        foreach ($part in 'main-db', 'cache', 'llm', $etc) { $out | Should -Match ([regex]::Escape("$part →")) }
        Get-ChildItem (Join-Path $dir 'repo/_scratch') -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'refuses a point no part can reach, naming the part and the reason, and touches nothing' {
        $dest = Join-Path $dir 'too-early'
        $early = $t1.AddDays(-1)
        $plan = Get-PlatformRestorePlan $early $dest -Policy $policy -WarningAction SilentlyContinue
        $plan.Restorable | Should -BeFalse
        ($plan.Parts | Where-Object Part -eq 'main-db').Problem | Should -Match 'can be restored between'
        ($plan.Parts | Where-Object Part -eq 'llm').Problem | Should -Match 'no version of model llm'
        $e = { Restore-Platform $early $dest -Policy $policy -Confirm:$false } | Should -Throw -PassThru
        $e.Exception.Message | Should -Match 'cannot be restored to .*main-db'
        Test-Path $dest | Should -BeFalse
    }

    It 'refuses a -Replace that names no part, and a destination that is not empty' {
        { Restore-Platform $t1 (Join-Path $dir 'x') -Replace nope -Policy $policy -Confirm:$false } | Should -Throw '*nope*not a part of the platform*'
        $full = Join-Path $dir 'not-empty'
        New-Item -ItemType Directory $full | Out-Null
        'x' | Set-Content (Join-Path $full 'keep.txt')
        { Restore-Platform $t1 $full -Policy $policy -Confirm:$false } | Should -Throw '*not empty*'
        Get-ChildItem $full | Should -HaveCount 1
    }

    It '-Replace of the model puts the version deployed at the point in place and records the deployment' {
        $r = Restore-Platform $t1 (Join-Path $dir 'replace-model') -Replace llm -Policy $policy -Confirm:$false -Force
        $r.Succeeded | Should -BeTrue -Because $r.Error
        [IO.File]::ReadAllBytes((Join-Path $model 'weights.bin')) | Should -Be $weights1
        Get-ChildItem (Split-Path $model) | Should -HaveCount 1 -Because 'the swap leaves no restore or previous directory once the new version checked out'
        # The history now says version 1 runs again: a plan for now gets it, not the newer version 3.
        $now = Get-PlatformRestorePlan ([DateTime]::UtcNow.AddSeconds(1)) (Join-Path $dir 'after-replace') -Policy $policy -WarningAction SilentlyContinue
        ($now.Parts | Where-Object Part -eq 'llm').Reads | Should -Match 'restored into'
        ($now.Parts | Where-Object Part -eq 'llm').Reads | Should -Match ([regex]::Escape((Get-AiModelBackup llm -Policy $policy | Sort-Object Created | Select-Object -First 1).Version))
    }
}

Describe 'Test-Platform drills and the recovery objectives Get-BackupStatus measures' {
    BeforeAll {
        $db = $global:BackupToolsTestServers.MariaDb
        $redis = $global:BackupToolsTestServers.Redis
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        (Get-Content -Raw $policy).Replace("engine: mariadb`n", "engine: mariadb`n    rpo: 1m`n") | Set-Content $policy -NoNewline
        $model = Join-Path $dir 'models/llm'
        $etc = Join-Path $dir 'etc/llm'
        New-Item -ItemType Directory $model, $etc | Out-Null
        "`nmodels:`n  llm: { path: $model, rto: 1h }`nconfig:`n  paths: [$etc]`nplatform:`n  targets: [main-db, cache]`n  models: [llm]`n  config: [$etc]" | Add-Content $policy
        $tag = [guid]::NewGuid().ToString('N').Substring(0, 8)
        $db.Sql("CREATE DATABASE drill_$tag; CREATE TABLE drill_$tag.items (n INT PRIMARY KEY) ENGINE=InnoDB;") | Out-Null
        $null = Start-DbBackup main-db -Policy $policy
        $db.Sql("INSERT INTO drill_$tag.items VALUES (1);") | Out-Null
        $redis.Command("SET drill:$tag 1") | Out-Null
        $null = Start-DbBackup cache -Policy $policy
        [IO.File]::WriteAllBytes((Join-Path $model 'weights.bin'), [byte[]](1..100))
        $null = Backup-AiModel llm -Policy $policy
        "workers=1`n" | Set-Content (Join-Path $etc 'app.conf') -NoNewline
        $null = Backup-ConfigFile -Policy $policy -WarningAction SilentlyContinue
        Start-Sleep -Milliseconds 1100
        $db.Sql("INSERT INTO drill_$tag.items VALUES (2);") | Out-Null
        $null = Start-DbBackup main-db Binlog -Policy $policy
        function Get-Recovery([string] $Part, [DateTime] $AsOf = [DateTime]::UtcNow) {
            Get-BackupStatus -Policy $policy -AsOf $AsOf -WarningAction SilentlyContinue | Where-Object { $_ -is [BackupTools.Model.RecoveryStatus] -and $_.Part -eq $Part }
        }
    }

    It 'before any drill: the model''s rto is unmeasured (a Warning), the window and the oldest full are shown' {
        $llm = Get-Recovery llm
        $llm.State | Should -Be 'Unmeasured'
        $llm.Severity | Should -Be 'Warning'
        $llm.Message | Should -Match 'no drill has measured its restore time yet.*Test-Platform'
        $db = Get-Recovery main-db
        $db.RecoverableFrom | Should -Not -BeNullOrEmpty
        $db.OldestFullAge | Should -BeGreaterThan ([TimeSpan]::Zero)
        $db.LastDrill | Should -BeNullOrEmpty
        (Get-Recovery platform).LastDrill | Should -BeNullOrEmpty
    }

    It 'with binary logs 15 minutes old, an rpo of 1 minute is a Warning naming the achieved RPO' {
        $later = [DateTime]::UtcNow.AddMinutes(15)
        $r = Get-Recovery main-db $later
        $r.State | Should -Be 'OverRpo'
        $r.Severity | Should -Be 'Warning'
        $r.AchievedRpo.TotalMinutes | Should -BeGreaterOrEqual 15
        $r.AchievedRpo.TotalMinutes | Should -BeLessThan 16
        $r.Message | Should -Match 'achieved RPO 1[56](\.\d)? min .*over the objective of 1 min'
        (Get-Recovery main-db).State | Should -Be 'Ok' -Because 'now, the newest binary log is seconds old'
    }

    It 'a drill restores every part into scratch at a point of the window, records each part''s time, and removes the scratch' {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $r = Test-Platform -Policy $policy
        $wall = $clock.Elapsed
        $r | Should -BeOfType ([BackupTools.Model.PlatformRestoreResult])
        $r.Drill | Should -BeTrue
        $r.Succeeded | Should -BeTrue -Because $r.Error
        $r.Parts | ForEach-Object { $_.Succeeded | Should -BeTrue -Because "$($_.Part): $($_.Error)" }
        $window = Get-Recovery platform
        $r.AsOf | Should -BeGreaterOrEqual $window.RecoverableFrom.AddSeconds(-1)
        $r.AsOf | Should -BeLessOrEqual $window.RecoverableTo
        # The recorded time is the drill's own: within the wall clock, missing only the module's start and the scratch's removal.
        $r.Duration | Should -BeLessOrEqual $wall
        ($wall - $r.Duration).TotalSeconds | Should -BeLessThan 2
        $r.Duration | Should -BeGreaterOrEqual ($r.Parts | Measure-Object -Property Duration -Maximum).Maximum
        Get-ChildItem (Join-Path $dir 'repo/_scratch') -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        # What status reads back is what the drill measured.
        $platform = Get-Recovery platform
        $platform.LastDrillSucceeded | Should -BeTrue
        [math]::Abs(($platform.LastDrillRto - $r.Duration).TotalMilliseconds) | Should -BeLessThan 1
        $db = Get-Recovery main-db
        [math]::Abs(($db.LastDrillRto - ($r.Parts | Where-Object Part -eq 'main-db').Duration).TotalMilliseconds) | Should -BeLessThan 1
        $db.ProjectedRto | Should -Not -BeNullOrEmpty
        $llm = Get-Recovery llm
        $llm.State | Should -Be 'Ok' -Because 'a drill has measured its rto now, well under 1 h'
        ($llm | Format-Table | Out-String -Width 300) | Should -Match '\d+ s ago, passed'
    }

    It 'a drill older than two weeks is a Warning; a failed drill is Critical and says why' {
        (Get-Recovery platform ([DateTime]::UtcNow.AddDays(15))).State | Should -Be 'DrillOld'
        $r = Test-Platform -Policy $policy -ValidationScript { $false } -ErrorVariable errs -ErrorAction SilentlyContinue
        $r.Succeeded | Should -BeFalse
        $errs[0].FullyQualifiedErrorId | Should -Be 'PlatformDrillFailed,BackupTools.Commands.TestPlatformCommand'
        $platform = Get-Recovery platform
        $platform.State | Should -Be 'DrillFailed'
        $platform.Severity | Should -Be 'Critical'
        $platform.Message | Should -Match 'validation of the whole platform'
        Get-ChildItem (Join-Path $dir 'repo/_scratch') -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'a drill with no point every part reaches is recorded as failed, naming the part' {
        $r = Test-Platform -AsOf ([DateTime]::UtcNow.AddDays(-3)) -Policy $policy -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $r.Succeeded | Should -BeFalse
        $r.Error | Should -Match 'main-db cannot be restored'
        (Get-Recovery platform).LastDrillSucceeded | Should -BeFalse
    }
}

# -Replace of a MariaDB target needs its server stopped: its own server here, not the shared one.
Describe 'Restore-Platform -Replace of a MariaDB target and a model' {
    BeforeAll {
        $dir = New-TestDirectory
        $own = [BackupTools.TestServers.MariaDbServer]::Start((Join-Path $dir 'db'))
        $env:BT_TEST_OWN_DB_PASSWORD = $own.BackupPassword
        $model = Join-Path $dir 'models/llm'
        New-Item -ItemType Directory $model | Out-Null
        $policy = Join-Path $dir 'policy.yml'
        @"
repository: $(Join-Path $dir 'repo')
targets:
  own-db:
    engine: mariadb
    socket: $($own.Socket)
    user: backup
    passwordEnv: BT_TEST_OWN_DB_PASSWORD
    dataDir: $($own.DataDirectory)
models:
  llm: { path: $model }
platform:
  targets: [own-db]
  models: [llm]
"@ | Set-Content $policy
        $own.Sql('CREATE DATABASE app; CREATE TABLE app.items (n INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO app.items VALUES (1);') | Out-Null
        $null = Start-DbBackup own-db -Policy $policy
        'v1' | Set-Content (Join-Path $model 'VERSION')
        $null = Backup-AiModel llm -Policy $policy
        Start-Sleep -Milliseconds 1100
        $t = [DateTime]::UtcNow
        Start-Sleep -Milliseconds 1100
        $own.Sql('INSERT INTO app.items VALUES (2);') | Out-Null
        'v2' | Set-Content (Join-Path $model 'VERSION')
        $null = Backup-AiModel llm -Policy $policy
        $null = Start-DbBackup own-db Binlog -Policy $policy
    }
    AfterAll {
        $own.Dispose()
        Remove-Item Env:BT_TEST_OWN_DB_PASSWORD
    }

    It 'with the server still running, the database part fails and the model after it is not run: both live parts stay as they were' {
        $r = Restore-Platform $t -Replace own-db, llm -Policy $policy -Confirm:$false -Force -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $r.Succeeded | Should -BeFalse
        $db = $r.Parts | Where-Object Part -eq 'own-db'
        $db.Ran | Should -BeTrue
        $db.Error | Should -Match 'still runs'
        $llm = $r.Parts | Where-Object Part -eq 'llm'
        $llm.Ran | Should -BeFalse
        $llm.Error | Should -Match 'not run: replacing own-db failed'
        Get-Content (Join-Path $model 'VERSION') | Should -Be 'v2'
        $own.Sql('SELECT COUNT(*) FROM app.items').Trim() | Should -Be '2'
        Get-ChildItem (Split-Path $own.DataDirectory) -Filter 'data.platform-*' | Should -BeNullOrEmpty -Because 'the failed part leaves nothing beside the data directory'
    }

    It 'with the server stopped, the data is built beside the live directory and swapped in, the old one kept; the model follows' {
        $own.Stop()
        try {
            $r = Restore-Platform $t -Replace own-db, llm -Policy $policy -Confirm:$false -Force -WarningVariable warned -WarningAction SilentlyContinue
        }
        finally { $own.Restart() }
        $r.Succeeded | Should -BeTrue -Because $r.Error
        $db = $r.Parts | Where-Object Part -eq 'own-db'
        $db.Detail.PreviousDataDirectory | Should -Not -BeNullOrEmpty
        Test-Path $db.Detail.PreviousDataDirectory | Should -BeTrue
        $own.Sql('SELECT GROUP_CONCAT(n) FROM app.items').Trim() | Should -Be '1'
        Get-Content (Join-Path $model 'VERSION') | Should -Be 'v1'
        ($warned -join "`n") | Should -Match 'own-db: live data replaced'
        ($warned -join "`n") | Should -Match 'llm: live data replaced'
    }
}
