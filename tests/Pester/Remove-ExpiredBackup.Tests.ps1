BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Remove-ExpiredBackup' {
    BeforeEach {
        # Retention of the test policy: full 30d, incremental 7d, binlog 14d.
        $db = $global:BackupToolsTestServers.MariaDb
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $full1 = Start-DbBackup main-db -Policy $policy
        $inc1 = Start-DbBackup main-db Incremental -Policy $policy
        $db.Sql('CREATE DATABASE IF NOT EXISTS ret; CREATE TABLE IF NOT EXISTS ret.t (id INT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO ret.t VALUES ();') | Out-Null
        $logs1 = @(Start-DbBackup main-db Binlog -Policy $policy)
        $full2 = Start-DbBackup main-db -Policy $policy
        $inc2 = Start-DbBackup main-db Incremental -Policy $policy
        # Binary-log events carry whole seconds: the write after the backups must fall in a later second than
        # full2's end, or the window can end (at that event's second) before full2's fractional end time.
        Start-Sleep -Milliseconds 1100
        $db.Sql('INSERT INTO ret.t VALUES ();') | Out-Null
        Start-Sleep -Milliseconds 1100
        $logs2 = @(Start-DbBackup main-db Binlog -Policy $policy)
        $all = Get-DbBackup -Policy $policy
    }

    It '-WhatIf removes nothing and outputs nothing' {
        $out = Remove-ExpiredBackup -Policy $policy -AsOf (Get-Date).AddDays(40) -WhatIf -InformationVariable summary
        $out | Should -BeNullOrEmpty
        "$summary" | Should -Match 'main-db: would remove \d+ backup\(s\)'
        "$summary" | Should -Match "after: $([regex]::Escape($full2.EndTime.ToString('yyyy-MM-ddTHH:mm:ssZ')))"
        (Get-DbBackup -Policy $policy).Id | Should -Be $all.Id
    }

    It 'removes expired incrementals after 10 days and keeps fulls and binlogs' {
        $removed = Remove-ExpiredBackup -Policy $policy -AsOf (Get-Date).AddDays(10) -Confirm:$false
        $removed | ForEach-Object { $_ | Should -BeOfType ([BackupTools.Model.RetentionDecision]) }
        $removed.Id | Sort-Object | Should -Be (@($inc1.Id, $inc2.Id) | Sort-Object)
        $removed | ForEach-Object { $_.Reason | Should -Match 'past the retention of 7 days'; $_.BytesFreed | Should -BeGreaterThan 0; Test-Path $_.Path | Should -BeFalse }
        (Get-DbBackup -Policy $policy).Id | Should -Not -Contain $inc1.Id
        Get-DbBackup -Policy $policy -Status Failed | Should -BeNullOrEmpty -Because 'a removal is not a failed attempt'
    }

    It 'after 40 days keeps only the newest full and the binlogs it needs, and the window stays whole' {
        $info = Remove-ExpiredBackup -Policy $policy -AsOf (Get-Date).AddDays(40) -Confirm:$false -InformationVariable summary
        $left = Get-DbBackup -Policy $policy
        $left.Where({ $_.Type -ne 'binlog' }).Id | Should -Be $full2.Id
        $needed = [int]($full2.BinlogFile -replace '.*\.', '')
        $left.Where({ $_.Type -eq 'binlog' }).BinlogFile | ForEach-Object { [int]($_ -replace '.*\.', '') | Should -BeGreaterOrEqual $needed }
        $left.Where({ $_.Type -eq 'binlog' }).Count | Should -BeGreaterThan 0
        "$summary" | Should -Match 'main-db: removed \d+ backup\(s\).*window before: \S+Z to \S+Z; after: \S+Z to \S+Z'

        # Every point of the window after is restorable.
        $plan = Get-DbRestorePlan main-db ([DateTime]::UtcNow) -Policy $policy -SkipChecksum -ErrorAction SilentlyContinue
        $window = Get-DbRestorePlan main-db $full2.EndTime.AddMilliseconds(1) -Policy $policy -SkipChecksum
        $from = $window.RecoverableFrom; $to = $window.RecoverableTo
        $from | Should -Be $full2.EndTime
        foreach ($f in 0, 0.5, 1) {
            $t = $from.AddTicks([long](($to - $from).Ticks * $f))
            (Get-DbRestorePlan main-db $t -Policy $policy -SkipChecksum).Full.Id | Should -Be $full2.Id
        }
    }

    It 'considers only the backups from the pipeline, still under every rule' {
        # Fulls alone: full1 stays, because the incremental that continues it was not given and is kept.
        Get-DbBackup -Policy $policy -Type Full | Remove-ExpiredBackup -AsOf (Get-Date).AddDays(40) -Confirm:$false | Should -BeNullOrEmpty
        $removed = Get-DbBackup -Policy $policy -Type Full, Incremental | Remove-ExpiredBackup -AsOf (Get-Date).AddDays(40) -Confirm:$false
        $removed.Id | Sort-Object | Should -Be (@($full1.Id, $inc1.Id, $inc2.Id) | Sort-Object)
        (Get-DbBackup -Policy $policy -Type Binlog).Count | Should -Be ($logs1.Count + $logs2.Count) -Because 'binlogs were not given on the pipeline'
        (Get-DbBackup -Policy $policy -Type Full).Id | Should -Be $full2.Id -Because 'the newest full is always kept'
    }

    It 'holds a type whose newest attempt failed' {
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $null = Start-DbBackup main-db -Policy $policy -Credential $cred -ErrorAction SilentlyContinue
        $removed = Remove-ExpiredBackup -Policy $policy -AsOf (Get-Date).AddDays(40) -Confirm:$false -Verbose 4>&1
        $decisions = $removed | Where-Object { $_ -is [BackupTools.Model.RetentionDecision] }
        $decisions.Type | Should -Not -Contain 'full'
        ($removed | Where-Object { $_ -is [Management.Automation.VerboseRecord] }).Message -join "`n" | Should -Match 'newest full attempt failed'
    }
}
