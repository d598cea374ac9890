BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Get-DbRestorePlan and Restore-DbToPointInTime' {
    BeforeAll {
        $db = $global:BackupToolsTestServers.MariaDb
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $db.Sql('CREATE DATABASE IF NOT EXISTS ptr; CREATE TABLE IF NOT EXISTS ptr.notes (id INT AUTO_INCREMENT PRIMARY KEY, txt TEXT) ENGINE=InnoDB;') | Out-Null
        $full = Start-DbBackup main-db -Policy $policy
        $db.Sql("INSERT INTO ptr.notes (txt) VALUES ('kept');") | Out-Null
        Start-Sleep -Milliseconds 1100
        $before = [DateTime]::Now               # local time, as a sysadmin types it
        Start-Sleep -Milliseconds 1100
        $db.Sql("INSERT INTO ptr.notes (txt) VALUES ('after the point');") | Out-Null
        $null = Start-DbBackup main-db Binlog -Policy $policy
    }

    It 'plans the restore from the full and the binlogs, with the window, and verifies the checksums' {
        $plan = Get-DbRestorePlan -Target main-db -PointInTime $before -Policy $policy
        $plan | Should -BeOfType ([BackupTools.Model.RestorePlan])
        $plan.PointInTime.Kind | Should -Be 'Utc'
        $plan.PointInTime | Should -Be $before.ToUniversalTime()
        $plan.Full.Id | Should -Be $full.Id
        $plan.StartBinlogFile | Should -Be $full.BinlogFile
        $plan.StartBinlogPosition | Should -Be $full.BinlogPosition
        $plan.ChecksumsVerified | Should -BeTrue
        $plan.RecoverableFrom | Should -Be $full.EndTime
        ($plan | Out-String) | Should -Match 'Window \(UTC\)'
    }

    It 'fails outside the window with an error that states the window' {
        { Get-DbRestorePlan main-db ([DateTime]::UtcNow.AddDays(-1)) -Policy $policy } | Should -Throw -ErrorId 'PointInTimeOutsideWindow,BackupTools.Commands.GetDbRestorePlanCommand'
        $err = { Get-DbRestorePlan main-db ([DateTimeOffset]::UtcNow.AddHours(2)) -Policy $policy } | Should -Throw -PassThru
        $err.Exception.Message | Should -Match 'can be restored between \S+Z and \S+Z'
    }

    It '-WhatIf prints every step and writes nothing' {
        $dest = Join-Path $dir 'whatif'
        # What-if lines go to the host, so run it in a child pwsh and read what it prints.
        $command = "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; Restore-DbToPointInTime main-db ([DateTime]::Parse('$($before.ToString('o'))')) -Destination '$dest' -Policy '$policy' -WhatIf"
        $out = & ([Environment]::ProcessPath) (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command $command | Out-String
        $LASTEXITCODE | Should -Be 0
        Test-Path $dest | Should -BeFalse
        Get-ChildItem $dir -Force -Filter '.whatif.backuptools-*' | Should -BeNullOrEmpty
        $out | Should -Match 'Step 2: extract and prepare the backups: full'
        $out | Should -Match 'Step 6: replay the binary logs: from mariadb-bin\.\d+:\d+ until'
        # The engine's steps, every one (without -Replace there is no swap): the list progress counts.
        [regex]::Matches($out, 'Step (\d+): ') | ForEach-Object { [int]$_.Groups[1].Value } | Should -Be (1..9)
        $out | Should -Match 'Step 9: set file ownership'
    }

    It '$WhatIfPreference lists the same steps and writes nothing, and -WhatIf:$false restores' {
        $dest = Join-Path $dir 'whatif-preference'
        $command = "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; `$WhatIfPreference = 1; Restore-DbToPointInTime main-db ([DateTime]::Parse('$($before.ToString('o'))')) -Destination '$dest' -Policy '$policy'"
        $out = & ([Environment]::ProcessPath) (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command $command | Out-String
        $LASTEXITCODE | Should -Be 0
        Test-Path $dest | Should -BeFalse
        [regex]::Matches($out, 'Step (\d+): ') | ForEach-Object { [int]$_.Groups[1].Value } | Should -Be (1..9)
        $WhatIfPreference = $true
        try {
            $result = Restore-DbToPointInTime main-db $before -Destination $dest -Policy $policy -WhatIf:$false -Confirm:$false
        }
        finally { $WhatIfPreference = $false }
        $result.Validated | Should -BeTrue
        Test-Path (Join-Path $dest 'ptr') | Should -BeTrue
    }

    It 'takes the plan from the pipeline and restores exactly the rows before the point' {
        $dest = Join-Path $dir 'restored'
        $result = Get-DbRestorePlan main-db $before -Policy $policy | Restore-DbToPointInTime -Destination $dest -ValidationQuery "SELECT COUNT(*) = 1 FROM ptr.notes WHERE txt = 'kept'" -Confirm:$false
        $result | Should -BeOfType ([BackupTools.Model.RestoreResult])
        $result.Validated | Should -BeTrue
        $result.Validation | Should -Match 'validation query true'
        ($result.Tables | Where-Object Table -eq 'ptr.notes').Rows | Should -Be 1
        $result.Steps.Name | Should -Contain 'replay the binary logs'
        Test-Path (Join-Path $dest 'ptr') | Should -BeTrue
    }

    It 'lands on the same rows when pwsh runs in another time zone (mariadb-binlog reads --stop-datetime in local time)' {
        $dest = Join-Path $dir 'tz'
        $utc = $before.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ss.fffZ')
        $command = "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; `$r = Restore-DbToPointInTime main-db '$utc' -Destination '$dest' -Policy '$policy' -Confirm:`$false; (`$r.Tables | Where-Object Table -eq 'ptr.notes').Rows; [TimeZoneInfo]::Local.Id"
        $saved = $env:TZ
        try {
            $env:TZ = 'America/New_York'
            $out = & ([Environment]::ProcessPath) (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command $command
        }
        finally { $env:TZ = $saved }
        $LASTEXITCODE | Should -Be 0
        $out[-1] | Should -Be 'America/New_York'
        $out[-2] | Should -Be '1' -Because 'the row written after the point must not come back'
    }

    It 'fails a validation query that is not true, naming the step, and removes the destination' {
        $dest = Join-Path $dir 'bad-validation'
        { Restore-DbToPointInTime main-db $before -Destination $dest -Policy $policy -ValidationQuery 'SELECT 0' -Confirm:$false } |
            Should -Throw -ErrorId 'RestoreStepFailed,BackupTools.Commands.RestoreDbToPointInTimeCommand'
        Test-Path $dest | Should -BeFalse
    }

    It 'refuses -Replace while the server runs' {
        $dest = Join-Path $dir 'replace'
        $e = { Restore-DbToPointInTime main-db $before -Destination $dest -Policy $policy -Replace -Force -Confirm:$false } | Should -Throw -PassThru
        $e.FullyQualifiedErrorId | Should -Be 'ReplaceRefused,BackupTools.Commands.RestoreDbToPointInTimeCommand'
        $e.Exception.Message | Should -Match 'still runs'
        Test-Path $dest | Should -BeFalse
    }

    It 'Test-DbBackup -Restore restores at a random point of the window in scratch and removes it' {
        $r = Test-DbBackup -Target main-db -Policy $policy -Restore
        $r | Should -BeOfType ([BackupTools.Model.RestoreResult])
        $r.Validated | Should -BeTrue
        $r.PointInTime | Should -BeGreaterOrEqual $full.EndTime
        Test-Path $r.Destination | Should -BeFalse
        Get-ChildItem (Join-Path $dir 'repo/_scratch') | Should -BeNullOrEmpty
    }
}
