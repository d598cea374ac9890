BeforeAll {
    . $PSScriptRoot/Common.ps1
    # The server's end of the stream's replica connection goes (it asks for heartbeats, so the server notices within
    # seconds even with nothing to send).
    function Wait-ReplicaGone($db) {
        $deadline = [DateTime]::UtcNow.AddSeconds(15)
        while ([DateTime]::UtcNow -lt $deadline -and $db.Sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").Trim() -ne '0') { Start-Sleep -Milliseconds 200 }
        $db.Sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").Trim() | Should -Be '0' -Because 'no replica connection is left on the server'
    }
}

Describe 'Start-BinlogStream' {
    It 'streams and seals rotated files into binlog sets until Ctrl+C (SIGINT), then stops promptly with its replica' {
        $db = $global:BackupToolsTestServers.MariaDb
        $db.Sql("GRANT REPLICATION SLAVE ON *.* TO 'backup'@'localhost'; GRANT REPLICATION SLAVE ON *.* TO 'backup'@'127.0.0.1';") | Out-Null
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $psi = [Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
        foreach ($a in @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command',
                "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; Start-BinlogStream main-db -Policy '$policy' | ForEach-Object { 'SEALED ' + `$_.Id }")) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $child = [Diagnostics.Process]::Start($psi)
        try {
            Start-Sleep -Seconds 3
            $before = @(Get-DbBackup -Target main-db -Type Binlog -Policy $policy).Count
            $db.Sql('CREATE DATABASE IF NOT EXISTS streamtest; FLUSH BINARY LOGS;') | Out-Null
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ([DateTime]::UtcNow -lt $deadline -and @(Get-DbBackup -Target main-db -Type Binlog -Policy $policy).Count -le $before) { Start-Sleep -Milliseconds 200 }
            @(Get-DbBackup -Target main-db -Type Binlog -Policy $policy).Count | Should -BeGreaterThan $before -Because 'the rotated file is sealed while the stream runs'
            $child.HasExited | Should -BeFalse
            $stream = Get-BackupStatus main-db -Policy $policy | Where-Object { $_ -is [BackupTools.Model.StreamStatus] }
            ($stream.Target, $stream.State) | Should -Be @('main-db', 'Running')
            $db.Sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").Trim() | Should -Be '1' -Because 'the stream is the server''s one replica'
            kill -INT $child.Id
            $child.WaitForExit(15000) | Should -BeTrue -Because 'Ctrl+C stops the stream promptly'
            $child.StandardOutput.ReadToEnd() | Should -Match 'SEALED '
            Get-BackupStatus -Policy $policy | Where-Object { $_ -is [BackupTools.Model.StreamStatus] } | Should -BeNullOrEmpty -Because 'a stream stopped by its user is not a dead one'
            @(Get-ChildItem /proc -Directory | Where-Object { $_.Name -match '^\d+$' } | Where-Object {
                (Get-Content "$($_.FullName)/cmdline" -Raw -ErrorAction Ignore) -match "_stream/main-db" }).Count | Should -Be 0 -Because 'no replica is left connected'
            Wait-ReplicaGone $db
        }
        finally {
            if (-not $child.HasExited) { $child.Kill($true) }
            $db.Sql('DROP DATABASE IF EXISTS streamtest;') | Out-Null
        }
    }
}

Describe 'The stream service (Register-BackupSchedule, systemd)' {
    BeforeAll {
        # Splits an ExecStart line as systemd does (quoted words, \ escapes, $$ and %% for $ and %): written here, not
        # taken from the module, so the unit is read the way systemd reads it rather than the way we wrote it.
        function Split-ExecStart([string] $line) {
            $words = [Collections.Generic.List[string]]::new()
            $i = 0
            while ($i -lt $line.Length) {
                if ($line[$i] -eq ' ') { $i++; continue }
                $quoted = $line[$i] -eq '"'
                if ($quoted) { $i++ }
                $w = [Text.StringBuilder]::new()
                while ($i -lt $line.Length -and (($quoted -and $line[$i] -ne '"') -or (-not $quoted -and $line[$i] -ne ' '))) {
                    if ($line[$i] -eq '\') { $i++ }
                    elseif ($line[$i] -in '$', '%' -and $i + 1 -lt $line.Length -and $line[$i + 1] -eq $line[$i]) { $i++ }
                    elseif ($line[$i] -in '$', '%') { throw "an unescaped $($line[$i]) at $i would be expanded by systemd: $line" }
                    [void]$w.Append($line[$i]); $i++
                }
                if ($quoted) { $i++ }
                $words.Add($w.ToString())
            }
            , $words.ToArray()
        }
    }

    It 'writes backuptools-stream@main-db.service that systemd-analyze accepts; run as systemd runs it, it streams until SIGTERM stops it and its replica' {
        $db = $global:BackupToolsTestServers.MariaDb
        $db.Sql("GRANT REPLICATION SLAVE ON *.* TO 'backup'@'localhost'; GRANT REPLICATION SLAVE ON *.* TO 'backup'@'127.0.0.1';") | Out-Null
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        # A service has no environment of ours: the password comes from a 0600 file.
        $secret = Join-Path $dir 'db.password'
        Set-Content $secret $env:BT_TEST_DB_PASSWORD -NoNewline
        chmod 600 $secret
        (Get-Content $policy -Raw) -replace 'passwordEnv: BT_TEST_DB_PASSWORD', "passwordFile: $secret`n    stream: { maxLag: 10s }" | Set-Content $policy
        $pwsh = Join-Path $dir 'pwsh'
        Set-Content $pwsh "#!/bin/sh`nexec '$([Environment]::ProcessPath)' '$(Join-Path $PSHOME 'pwsh.dll')' `"`$@`""
        chmod 755 $pwsh
        $units = Join-Path $dir 'units'
        New-Item -ItemType Directory $units | Out-Null
        $cron = Join-Path $dir 'crontab'
        # Before: the policy asks for a stream that does not run.
        (Get-BackupStatus main-db -Policy $policy | Where-Object { $_ -is [BackupTools.Model.StreamStatus] }).State | Should -Be 'Stopped'

        Register-BackupSchedule main-db -Policy $policy -CronFile $cron -PwshPath $pwsh -UnitDirectory $units -WhatIf
        Get-ChildItem $units | Should -BeNullOrEmpty -Because '-WhatIf writes no unit'
        $registered = Register-BackupSchedule main-db -Policy $policy -CronFile $cron -PwshPath $pwsh -UnitDirectory $units -Force -WarningVariable warned -WarningAction SilentlyContinue
        $service = $registered | Where-Object Name -eq 'stream-main-db'
        $service.Schedule | Should -Be 'continuous'
        $unitPath = Join-Path $units 'backuptools-stream@main-db.service'
        $service.Location | Should -Be $unitPath
        ($warned -join "`n") | Should -Match 'systemctl enable --now backuptools-stream@main-db.service' -Because 'a unit that was not started says how to start it'
        (Get-Content $cron -Raw) | Should -Not -Match 'Start-BinlogStream' -Because 'the stream is a service, not a cron line'
        (stat -c '%a' $unitPath) | Should -Be '644'
        $verify = & systemd-analyze verify $unitPath 2>&1
        $LASTEXITCODE | Should -Be 0 -Because "$verify"
        "$verify" | Should -BeNullOrEmpty -Because 'systemd-analyze has nothing to say of a good unit'
        $unit = Get-Content $unitPath
        $unit | Should -Contain 'Restart=always'
        (Get-BackupSchedule main-db -Policy $policy -CronFile $cron -UnitDirectory $units | Where-Object Name -eq 'stream-main-db').Location | Should -Be $unitPath

        # Started as systemd starts it: the ExecStart words exec'd with only the unit's Environment=, output appended to its log.
        $exec = Split-ExecStart (($unit | Where-Object { $_ -like 'ExecStart=*' }) -replace '^ExecStart=', '')
        $envs = (($unit | Where-Object { $_ -like 'Environment=*' }) -replace '^Environment=', '') -split ' '
        $log = (($unit | Where-Object { $_ -like 'StandardOutput=append:*' }) -replace '^StandardOutput=append:', '')
        $psi = [Diagnostics.ProcessStartInfo]::new('/usr/bin/env')
        foreach ($a in @('-i') + $envs + $exec) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $child = [Diagnostics.Process]::Start($psi)
        $out = $child.StandardOutput.ReadToEndAsync()
        $err = $child.StandardError.ReadToEndAsync()
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while ([DateTime]::UtcNow -lt $deadline -and -not $child.HasExited -and
                   (Get-BackupStatus main-db -Policy $policy | Where-Object { $_ -is [BackupTools.Model.StreamStatus] }).State -ne 'Running') { Start-Sleep -Milliseconds 300 }
            if ($child.HasExited) { $child.WaitForExit(); throw "the service stopped by itself: $($err.Result) $($out.Result)" }
            (Get-BackupStatus main-db -Policy $policy | Where-Object { $_ -is [BackupTools.Model.StreamStatus] }).State | Should -Be 'Running'
            $db.Sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").Trim() | Should -Be '1' -Because 'the service is the server''s one replica'
            kill -TERM $child.Id
            $child.WaitForExit(15000) | Should -BeTrue -Because 'SIGTERM (systemctl stop) stops it promptly'
            $out.Wait(5000) -and $err.Wait(5000) | Should -BeTrue -Because 'nothing it started holds its output open'
            $child.ExitCode | Should -Be 0 -Because "a requested stop is no failure: $($err.Result)"
            @(Get-ChildItem /proc -Directory | Where-Object { $_.Name -match '^\d+$' } | Where-Object {
                (Get-Content "$($_.FullName)/cmdline" -Raw -ErrorAction Ignore) -match [regex]::Escape("$dir/repo/_stream/main-db") }).Count | Should -Be 0 -Because 'no mariadb-binlog of its is left'
            Wait-ReplicaGone $db
            $out.Result | Should -Match '=== .* stream-main-db'
        }
        finally {
            if (-not $child.HasExited) { $child.Kill($true) }
        }
        $log | Should -Be (Join-Path $dir 'repo/_logs/stream-main-db.log')

        # Unregister removes the service; a policy without stream: has none to register.
        Unregister-BackupSchedule main-db -Policy $policy -CronFile $cron -UnitDirectory $units -Confirm:$false | Out-Null
        Test-Path $unitPath | Should -BeFalse
    }
}
