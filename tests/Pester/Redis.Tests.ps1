BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Redis targets: Start-DbBackup, Get-DbBackup, Test-DbBackup, Restore-DbToPointInTime, Remove-ExpiredBackup' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $redis = $global:BackupToolsTestServers.Redis
        $null = $redis.Command('SET pester:a 1')
        $null = $redis.Command('SELECT 2')
        $backup = Start-DbBackup cache -Policy $policy
    }

    It 'takes a snapshot by default and describes it' {
        $backup | Should -BeOfType ([BackupTools.Model.BackupRecord])
        ($backup.Engine, $backup.Type, $backup.Status) | Should -Be @('redis', 'snapshot', 'Succeeded')
        $backup.ServerVersion | Should -Match '^\d+\.\d+'
        $backup.Checked | Should -Be 'Full'
        $backup.Warning | Should -BeNullOrEmpty
        $db0 = $backup.Keyspace | Where-Object Index -eq 0
        $db0.Keys | Should -BeGreaterThan 0
        $db0.PSObject.Properties.Name | Should -Be @('Index', 'Keys', 'KeysWithTtl', 'FieldsWithTtl')
        (Get-DbBackup -Target cache -Policy $policy).Keyspace.Keys | Should -Be $backup.Keyspace.Keys
        Test-Path (Join-Path $backup.Path 'dump.rdb.zst') | Should -BeTrue
        (Get-DbBackup -Target cache -Policy $policy).Id | Should -Be $backup.Id
        (Get-DbBackup -Target cache -Policy $policy | Test-DbBackup).Status | Should -Be 'Verified'
    }

    It 'refuses a MariaDB backup type for a Redis target, and -Method for a MariaDB target' {
        Start-DbBackup cache -Type Full -Policy $policy -ErrorAction SilentlyContinue -ErrorVariable err | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'TypeNotSupported,BackupTools.Commands.StartDbBackupCommand'
        $err[0].Exception.Message | Should -Match 'takes snapshots only'
        Start-DbBackup main-db -Method Bgsave -Policy $policy -ErrorAction SilentlyContinue -ErrorVariable err2 | Should -BeNullOrEmpty
        $err2[0].Exception.Message | Should -Match '-Method is for Redis'
    }

    It 'restores the newest snapshot at or before T into a new directory and says it is snapshot precision' {
        $out = Join-Path $dir 'restored'
        $r = Restore-DbToPointInTime cache (Get-Date) -Destination $out -Policy $policy -Confirm:$false
        $r | Should -BeOfType ([BackupTools.Model.RestoreResult])
        $r.Validated | Should -BeTrue
        $r.Plan | Should -Match 'snapshot precision'
        $r.RestoredTo | Should -Be $backup.EndTime
        Test-Path (Join-Path $out 'dump.rdb') | Should -BeTrue
        { Restore-DbToPointInTime cache $backup.StartTime.AddMinutes(-5) -Destination (Join-Path $dir 'early') -Policy $policy -Confirm:$false } |
            Should -Throw -ErrorId 'NoSnapshot,BackupTools.Commands.RestoreDbToPointInTimeCommand'
        $Error[0].Exception.Message | Should -Match 'no snapshot that ended at or before .* the oldest ended at'
    }

    It '-WhatIf lists the steps and writes nothing' {
        Restore-DbToPointInTime cache (Get-Date) -Replace -Policy $policy -WhatIf
        $redis.Command('EXISTS pester:a') | Should -Match '^:1' -Because 'the server was not stopped or replaced'
        Get-ChildItem (Join-Path $dir 'repo/_scratch') -ErrorAction Ignore | Should -BeNullOrEmpty
    }

    It 'needs exactly one of -Destination and -Replace' {
        { Restore-DbToPointInTime cache (Get-Date) -Policy $policy -Confirm:$false } | Should -Throw '*-Destination*-Replace*'
    }

    It 'Test-DbBackup -Restore writes the snapshot out in scratch and checks it' {
        $t = Test-DbBackup -Target cache -Restore -Policy $policy
        $t.Validated | Should -BeTrue
        $t.Validation | Should -Match 'key counts match'
    }

    It 'Remove-ExpiredBackup keeps the newest snapshot even past its retention' {
        $removed = Remove-ExpiredBackup -Target cache -AsOf (Get-Date).AddDays(30) -Policy $policy -Confirm:$false
        $removed | Should -BeNullOrEmpty
        (Get-DbBackup -Target cache -Policy $policy).Count | Should -Be 1
    }
}
