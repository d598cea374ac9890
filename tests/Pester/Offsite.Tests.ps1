BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Copy-BackupSet' {
    BeforeAll {
        $dir = New-TestDirectory
        $azurite = [BackupTools.TestServers.AzuriteServer]::Start((Join-Path $dir 'azurite'))
        $env:BT_TEST_AZURE_CONN = $azurite.ConnectionString
        $policy = New-TestPolicy $dir
        $key = New-BackupEncryptionKey (Join-Path $dir 'backup.key')
        Add-Content $policy "`noffsite:`n  azure: { kind: azureBlob, connectionStringEnv: BT_TEST_AZURE_CONN, container: backups, copies: [cache] }`nencryption: { keyFile: $($key.Path) }"
    }
    AfterAll {
        $azurite.Dispose()
        Remove-Item Env:BT_TEST_AZURE_CONN -ErrorAction SilentlyContinue
    }

    It 'copies a new snapshot from the pipeline, encrypted, and a second run sends nothing again' {
        $backup = Start-DbBackup cache -Policy $policy
        $backup.Status | Should -Be 'Succeeded'
        Copy-BackupSet -Offsite azure -Policy $policy -WhatIf | Should -BeNullOrEmpty
        Test-Path (Join-Path (Get-BackupPolicy -Policy $policy).Repository '_offsite/azure/journal.jsonl') | Should -BeFalse -Because '-WhatIf writes nothing, the journal included'
        $copied = $backup | Copy-BackupSet
        $copied | Should -BeOfType ([BackupTools.Model.OffsiteCopyResult])
        $copied.Status | Should -Be 'Succeeded'
        $copied.Id | Should -Be $backup.Id
        $copied.Sent | Should -BeGreaterOrEqual 2
        ($copied | Send-BackupAlert -Policy $policy -WhatIf) | Should -BeNullOrEmpty
        # Without records: every set of the offsite's targets, all already there.
        $again = @(Copy-BackupSet -Policy $policy)
        $again.Count | Should -BeGreaterOrEqual 1
        ($again | Measure-Object Sent -Sum).Sum | Should -Be 0
        ($again | Where-Object Id -eq $backup.Id).AlreadyThere | Should -Be $copied.Sent
        $journal = Get-Content (Join-Path (Get-BackupPolicy -Policy $policy).Repository '_offsite/azure/journal.jsonl') | ConvertFrom-Json
        @($journal | Where-Object { $_.Set -like "*$($backup.Id)" }).Count | Should -Be 1 -Because 'a set is journaled once, not on every run that finds it there'
    }

    It 'a store it cannot reach is a Failed result and a Critical alert, and the other sets are not blamed' {
        $bad = Join-Path $dir 'bad.yml'
        (Get-Content $policy -Raw) -replace 'BT_TEST_AZURE_CONN', 'BT_TEST_AZURE_DOWN' | Set-Content $bad
        $env:BT_TEST_AZURE_DOWN = 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;'
        try {
            $results = @(Get-DbBackup -Target cache -Policy $bad -Last 1 | Copy-BackupSet -ErrorVariable err -ErrorAction SilentlyContinue)
        }
        finally { Remove-Item Env:BT_TEST_AZURE_DOWN }
        $results.Count | Should -Be 1
        $results[0].Status | Should -Be 'Failed'
        $results[0].Error | Should -Not -BeNullOrEmpty
        $err.Count | Should -BeGreaterOrEqual 1
    }

    It 'Get-BackupStatus shows the failed copy as Critical, then Ok with nothing pending after a copy that succeeds; the metrics carry it' {
        $status = Get-BackupStatus -Policy $policy | Where-Object { $_ -is [BackupTools.Model.OffsiteStatus] }
        ($status.Offsite, $status.State, $status.Severity) | Should -Be @('azure', 'Failed', 'Critical')
        $status.Message | Should -Match 'failed'
        $null = Copy-BackupSet -Policy $policy
        $status = Get-BackupStatus -Policy $policy | Where-Object { $_ -is [BackupTools.Model.OffsiteStatus] }
        ($status.State, $status.PendingSets, $status.Lag) | Should -Be @('Ok', 0, [TimeSpan]::Zero)
        $status.LastSuccess | Should -BeGreaterThan ([DateTime]::UtcNow.AddMinutes(-5))
        ($status | Format-Table | Out-String) | Should -Match 'azure\s+AzureBlob\s+Ok'
        $prom = Join-Path $dir 'offsite.prom'
        $null = Export-BackupMetric $prom -Policy $policy
        Get-Content $prom -Raw | Should -Match 'backuptools_offsite_pending_sets\{offsite="azure",kind="AzureBlob"\} 0'
    }

    It 'Test-BackupTarget -Offsite checks the key, the store and a write; an unreachable store and a lock it cannot give are errors with a fix' {
        $ok = @(Test-BackupTarget -Offsite azure -Policy $policy)
        $ok.Check | Should -Be @('EncryptionKey', 'Reachable', 'Writable')
        $ok.Level | Sort-Object -Unique | Should -Be 'Ok'
        $ok[0].Target | Should -Be 'offsite:azure'
        @(Get-DbBackup -Target cache -Offsite azure -Policy $policy | Where-Object Path -like '*_probe*').Count | Should -Be 0
        $bad = Join-Path $dir 'probe.yml'
        (Get-Content $policy -Raw) -replace 'BT_TEST_AZURE_CONN, container: backups', 'BT_TEST_AZURE_DOWN, container: backups, immutableDays: 7' | Set-Content $bad
        $env:BT_TEST_AZURE_DOWN = 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;'
        try { $down = @(Test-BackupTarget -Offsite azure -Policy $bad) } finally { Remove-Item Env:BT_TEST_AZURE_DOWN }
        ($down | Where-Object Check -eq 'Reachable').Level | Should -Be 'Error'
        ($down | Where-Object Check -eq 'Reachable').Fix | Should -Match 'Storage Blob Data Contributor'
        (Get-Content $policy -Raw) -replace 'container: backups', 'container: backups, immutableDays: 7' | Set-Content $bad
        $lock = Test-BackupTarget -Offsite az* -Policy $bad | Where-Object Check -eq 'Immutability'
        $lock.Level | Should -Be 'Error' -Because 'Azurite has no version-level immutability'
        $lock.Fix | Should -Match 'immutability'
        Test-BackupTarget -Offsite nope -Policy $policy -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Match '^OffsiteNotFound'
    }

    It 'an accountUrl offsite signs in through the default credential chain (managed identity): without one here it is a Reachable error, in seconds' {
        $mi = Join-Path $dir 'mi.yml'
        (Get-Content $policy -Raw) -replace 'connectionStringEnv: BT_TEST_AZURE_CONN', 'accountUrl: https://127.0.0.1:9/devstoreaccount1' | Set-Content $mi
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $found = @(Test-BackupTarget -Offsite azure -Policy $mi)
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 60
        ($found | Where-Object Check -eq 'Reachable').Level | Should -Be 'Error'
        ($found | Where-Object Check -eq 'Reachable').Detail | Should -Match 'https://127\.0\.0\.1:9/devstoreaccount1/backups'
    }

    It 'refuses without an encryption key, naming the fix' {
        $nokey = Join-Path $dir 'nokey.yml'
        (Get-Content $policy -Raw) -replace [regex]::Escape($key.Path), (Join-Path $dir 'missing.key') | Set-Content $nokey
        { Get-DbBackup -Target cache -Policy $nokey -Last 1 | Copy-BackupSet -ErrorAction Stop } | Should -Throw '*New-BackupEncryptionKey*'
    }

    It 'lists the copies from the offsite manifests alone, after the local repository is gone' {
        $local = @(Get-DbBackup -Target cache -Policy $policy)
        $local.Count | Should -BeGreaterOrEqual 1
        Remove-Item (Get-BackupPolicy -Policy $policy).Repository -Recurse -Force
        $remote = @(Get-DbBackup -Target cache -Offsite azure -Policy $policy)
        $remote.Count | Should -Be $local.Count
        foreach ($r in $local) {
            $copy = $remote | Where-Object Id -eq $r.Id
            $copy.Type | Should -Be $r.Type
            $copy.StoredBytes | Should -Be $r.StoredBytes
            $copy.Path | Should -BeLike 'offsite:azure/redis/cache/snapshot/*'
        }
    }

    It 'restores from the offsite copy alone: fetched, decrypted, checked, and -WhatIf fetches nothing' {
        $repo = (Get-BackupPolicy -Policy $policy).Repository
        Test-Path $repo | Should -BeFalse -Because 'the test before deleted the local repository'
        $dest = Join-Path $dir 'restored-from-offsite'
        Restore-DbToPointInTime cache ([DateTime]::UtcNow) -Destination $dest -Offsite azure -Policy $policy -WhatIf
        Test-Path $dest | Should -BeFalse
        @(Get-ChildItem (Join-Path $repo '_scratch') -ErrorAction SilentlyContinue).Count | Should -Be 0
        $result = Restore-DbToPointInTime cache ([DateTime]::UtcNow) -Destination $dest -Offsite azure -Policy $policy -Confirm:$false
        $result.Validated | Should -BeTrue
        Test-Path (Join-Path $dest 'dump.rdb') | Should -BeTrue
        @(Get-ChildItem (Join-Path $repo '_scratch') -ErrorAction SilentlyContinue).Count | Should -Be 0 -Because 'the fetched sets are removed after the restore'
    }

    It 'runs the restore drill from the offsite copy, and an offsite without the target''s sets is an error' {
        $drill = Test-DbBackup -Target cache -Restore -Offsite azure -Policy $policy
        $drill | Should -BeOfType ([BackupTools.Model.RestoreResult])
        $drill.Validated | Should -BeTrue
        $none = Test-DbBackup -Target main-db -Restore -Offsite azure -Policy $policy -ErrorVariable err -ErrorAction SilentlyContinue
        $none | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'OffsiteEmpty,BackupTools.Commands.TestDbBackupCommand'
    }

    It 'Update-BackupEncryptionKey re-wraps every object to a new key (-WhatIf writes nothing); the new key then reads the copies' {
        $newKey = New-BackupEncryptionKey (Join-Path $dir 'rotated.key')
        Update-BackupEncryptionKey $newKey.Path -Offsite azure -Policy $policy -WhatIf | Should -BeNullOrEmpty
        $rotated = Join-Path $dir 'rotated.yml'
        (Get-Content $policy -Raw) -replace [regex]::Escape($key.Path), $newKey.Path | Set-Content $rotated
        { Get-DbBackup -Target cache -Offsite azure -Policy $rotated } | Should -Throw "*$($key.KeyId)*"
        $r = Update-BackupEncryptionKey $newKey.Path -Offsite azure -Policy $policy -Confirm:$false
        $r | Should -BeOfType ([BackupTools.Model.EncryptionKeyRotation])
        ($r.OldKeyId, $r.NewKeyId, $r.Complete) | Should -Be @($key.KeyId, $newKey.KeyId, $true)
        $r.Rewrapped | Should -BeGreaterThan 0
        @(Get-DbBackup -Target cache -Offsite azure -Policy $rotated).Count | Should -Be @(Get-DbBackup -Target cache -Offsite azure -Policy $policy).Count
        (Update-BackupEncryptionKey $newKey.Path -Offsite azure -Policy $policy -Confirm:$false).Rewrapped | Should -Be 0 -Because 'a second run finds everything rotated'
    }
}

Describe 'Copy-BackupSet killed with SIGKILL mid-upload' {
    It 'lists no half version there, and the next run sends only the parts that had not arrived' {
        $dir = New-TestDirectory
        $azurite = [BackupTools.TestServers.AzuriteServer]::Start((Join-Path $dir 'azurite'))
        $env:BT_TEST_KILL_CONN = $azurite.ConnectionString
        try {
            $policy = New-TestPolicy $dir
            $key = New-BackupEncryptionKey (Join-Path $dir 'backup.key')
            $model = Join-Path $dir 'big'
            New-Item -ItemType Directory $model | Out-Null
            '3' | Set-Content (Join-Path $model 'VERSION')
            $weights = [byte[]]::new(48MB); [Random]::new(11).NextBytes($weights)
            [IO.File]::WriteAllBytes((Join-Path $model 'weights.bin'), $weights)
            # 4 MB/s: the 48 MiB file (6 parts) takes about 12 s, so the kill lands between parts.
            "`nmodels: { big: { path: $model } }`noffsite:`n  azure: { kind: azureBlob, connectionStringEnv: BT_TEST_KILL_CONN, container: kill, copies: [big], maxMBps: 4 }`nencryption: { keyFile: $($key.Path) }" |
                Add-Content $policy
            $null = Backup-AiModel big -Path $model -Policy $policy

            $psi = [Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
            foreach ($a in @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command',
                    "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; Copy-BackupSet -Offsite azure -Policy '$policy'")) { $psi.ArgumentList.Add($a) }
            $psi.RedirectStandardOutput = $true
            $child = [Diagnostics.Process]::Start($psi)
            $uploads = Join-Path $dir 'repo/_offsite/azure/uploads'
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            $arrived = 0
            while ([DateTime]::UtcNow -lt $deadline -and $arrived -lt 2) {
                $record = Get-ChildItem $uploads -Filter *.json -ErrorAction Ignore | Select-Object -First 1
                if ($record) { try { $arrived = @((Get-Content $record.FullName -Raw | ConvertFrom-Json).Parts.PSObject.Properties).Count } catch { } }
                Start-Sleep -Milliseconds 20
            }
            $child.HasExited | Should -BeFalse -Because 'the copy must still be uploading when it is killed'
            kill -9 $child.Id
            $child.WaitForExit()
            $arrived | Should -BeGreaterOrEqual 2
            $arrived | Should -BeLessThan 6

            Get-AiModelBackup -Offsite azure -Policy $policy | Should -BeNullOrEmpty -Because 'the version manifest goes after its blobs'
            $done = @((Get-Content (Get-ChildItem $uploads -Filter *.json)[0].FullName -Raw | ConvertFrom-Json).Parts.PSObject.Properties).Count
            $again = Copy-BackupSet -Offsite azure -Policy $policy
            $again.Status | Should -Be 'Succeeded'
            # The store's list of staged blocks is the truth (a part can arrive just before the kill and before its record line).
            $again.PartsResumed | Should -BeGreaterOrEqual $done -Because 'every part that arrived is used, none is sent again'
            $again.PartsResumed | Should -BeLessThan 6
            Get-ChildItem $uploads -Filter *.json | Should -BeNullOrEmpty
            (Get-AiModelBackup -Offsite azure -Policy $policy).Version | Should -Be '3'
            $out = Join-Path $dir 'restored'
            $null = Restore-AiModel big -Offsite azure -Destination $out -Policy $policy -Confirm:$false
            (Get-FileHash (Join-Path $out 'weights.bin')).Hash | Should -Be (Get-FileHash (Join-Path $model 'weights.bin')).Hash
        }
        finally {
            $azurite.Dispose()
            Remove-Item Env:BT_TEST_KILL_CONN -ErrorAction SilentlyContinue
        }
    }
}
