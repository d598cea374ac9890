BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Elasticsearch targets: Start-DbBackup, Restore-DbToPointInTime, Remove-ExpiredBackup (loopback fake cluster)' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        (Get-Content $policy -Raw) -replace 'snapshotRepository: backups', "snapshotRepository: backups`n    snapshotRepositorySettings: { type: fs, location: /mnt/es-backups }" |
            Set-Content $policy
        $es = $global:BackupToolsTestServers.Elasticsearch
        $es.Indices['pester-orders'] = 'open'
        $es.Indices['pester-users'] = 'open'
        $backup = Start-DbBackup search -Policy $policy
    }

    It 'registers the repository from the policy and records the snapshot as a backup' {
        $backup | Should -BeOfType ([BackupTools.Model.BackupRecord])
        ($backup.Engine, $backup.Type, $backup.Status) | Should -Be @('elasticsearch', 'snapshot', 'Succeeded')
        $es.Repositories.ContainsKey('backups') | Should -BeTrue
        $name = (Get-Content (Join-Path $backup.Path 'manifest.json') -Raw | ConvertFrom-Json).engineFields.snapshot
        $es.SnapshotNames('backups') | Should -Contain $name
        (Get-DbBackup -Target search -Policy $policy | Test-DbBackup).Status | Should -Be 'Verified'
    }

    It 'refuses to restore over open indices, names them, and touches nothing' {
        { Restore-DbToPointInTime search (Get-Date) -Index pester-* -Policy $policy -Confirm:$false } |
            Should -Throw -ErrorId 'RestoreConflict,BackupTools.Commands.RestoreDbToPointInTimeCommand'
        $es.Indices['pester-orders'] | Should -Be 'open'
    }

    It 'restores beside the live indices with a rename, and -WhatIf sends nothing' {
        $before = $es.Received.Count
        Restore-DbToPointInTime search (Get-Date) -Index pester-orders -RenamePattern '(.+)' -RenameReplacement 'restored-$1' -Policy $policy -WhatIf
        @($es.Received | Select-Object -Skip $before | Where-Object Path -like '*_restore*').Count | Should -Be 0
        $r = Restore-DbToPointInTime search (Get-Date) -Index pester-orders -RenamePattern '(.+)' -RenameReplacement 'restored-$1' -Policy $policy -Confirm:$false
        $r.Validated | Should -BeTrue
        $r.Plan | Should -Match 'snapshot precision'
        $es.Indices['restored-pester-orders'] | Should -Be 'open'
    }

    It '-Replace closes the open index and restores over it' {
        $r = Restore-DbToPointInTime search (Get-Date) -Index pester-users -Replace -Force -Policy $policy -Confirm:$false
        $r.Destination | Should -Match 'pester-users'
        @($es.Received | Where-Object { $_.Method -eq 'POST' -and $_.Path -eq '/pester-users/_close' }).Count | Should -Be 1
    }

    It 'Remove-ExpiredBackup keeps the newest snapshot and deletes older ones in the cluster too' {
        $second = Start-DbBackup search -Policy $policy
        $second.Status | Should -Be 'Succeeded'
        $removed = Remove-ExpiredBackup -Target search -AsOf (Get-Date).AddDays(60) -Policy $policy -Confirm:$false
        $removed.Id | Should -Be $backup.Id
        (Get-DbBackup -Target search -Policy $policy).Id | Should -Be $second.Id
        $oldName = $backup.Id.ToLower()
        $es.SnapshotNames('backups') | Where-Object { $_ -like "*$oldName" } | Should -BeNullOrEmpty
    }
}

Describe 'Elasticsearch snapshot round trip against a real cluster (opt-in)' {
    It 'snapshots an index, restores it under a new name, and retention deletes the snapshot (BACKUPTOOLS_TEST_ES_URL)' -Skip:(-not $env:BACKUPTOOLS_TEST_ES_URL) {
        # The cluster needs a snapshot repository 'backuptools-test', or path.repo allowing BACKUPTOOLS_TEST_ES_REPO_PATH for an fs one.
        $url = $env:BACKUPTOOLS_TEST_ES_URL.TrimEnd('/')
        $dir = New-TestDirectory
        $p = Join-Path $dir 'policy.yml'
        $settings = if ($env:BACKUPTOOLS_TEST_ES_REPO_PATH) { "`n    snapshotRepositorySettings: { type: fs, location: $env:BACKUPTOOLS_TEST_ES_REPO_PATH }" } else { '' }
        Set-Content $p "repository: $dir/repo`ntargets:`n  real:`n    engine: elasticsearch`n    url: $url`n    snapshotRepository: backuptools-test`n    indices: [bt-roundtrip]$settings`n    retention: { snapshot: 1d }"
        $null = Invoke-RestMethod -Method Put "$url/bt-roundtrip/_doc/1?refresh=true" -ContentType 'application/json' -Body '{"n":1}'
        try {
            $b = Start-DbBackup real -Policy $p
            $b.Status | Should -Be 'Succeeded' -Because $b.Error
            $r = Restore-DbToPointInTime real (Get-Date) -RenamePattern '(.+)' -RenameReplacement 'restored-$1' -Policy $p -Confirm:$false
            $r.Validated | Should -BeTrue
            (Invoke-RestMethod "$url/restored-bt-roundtrip/_count").count | Should -Be 1
            $b2 = Start-DbBackup real -Policy $p
            (Remove-ExpiredBackup -Target real -AsOf (Get-Date).AddDays(3) -Policy $p -Confirm:$false).Id | Should -Be $b.Id
            { Invoke-RestMethod "$url/_snapshot/backuptools-test/real-$($b.Id.ToLower())" } | Should -Throw
        }
        finally {
            foreach ($i in 'bt-roundtrip', 'restored-bt-roundtrip') { try { $null = Invoke-RestMethod -Method Delete "$url/$i" } catch { } }
        }
    }
}
