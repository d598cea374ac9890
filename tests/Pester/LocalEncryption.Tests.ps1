BeforeAll { . $PSScriptRoot/Common.ps1 }

# encryption.local: the database sets stored on this host are BTENC1 (compressed, then encrypted), verified without
# the key, restored with it, and copied offsite (encrypted again there).
Describe 'An encrypted local repository (encryption.local)' {
    BeforeAll {
        $db = $global:BackupToolsTestServers.MariaDb
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $key = New-BackupEncryptionKey (Join-Path $dir 'backup.key')
        $azurite = [BackupTools.TestServers.AzuriteServer]::Start((Join-Path $dir 'azurite'))
        $env:BT_TEST_LOCAL_CONN = $azurite.ConnectionString
        $model = Join-Path $dir 'models/llm'
        New-Item -ItemType Directory $model -Force | Out-Null
        '{ "version": "1.0", "token": "LOCAL-SECRET-CONFIG" }' | Set-Content (Join-Path $model 'config.json') # small: packed
        'LOCAL-SECRET-WEIGHTS ' * 50000 | Set-Content (Join-Path $model 'weights.txt')
        "`nmodels: { llm: { path: $model } }`noffsite:`n  azure: { kind: azureBlob, connectionStringEnv: BT_TEST_LOCAL_CONN, container: local, copies: [main-db, cache, llm] }`nencryption: { keyFile: $($key.Path), local: true }" | Add-Content $policy
        $db.Sql("CREATE DATABASE IF NOT EXISTS locenc; CREATE TABLE IF NOT EXISTS locenc.t (id INT PRIMARY KEY, txt TEXT) ENGINE=InnoDB; DELETE FROM locenc.t; INSERT INTO locenc.t VALUES (1, 'LOCAL-SECRET-ROW-ONE');") | Out-Null
        $full = Start-DbBackup main-db Full -Policy $policy
        $db.Sql("INSERT INTO locenc.t VALUES (2, 'LOCAL-SECRET-ROW-TWO');") | Out-Null
        Start-Sleep -Milliseconds 1100
        $point = [DateTime]::UtcNow
        Start-Sleep -Milliseconds 1100
        $db.Sql("INSERT INTO locenc.t VALUES (3, 'LOCAL-SECRET-ROW-AFTER');") | Out-Null
        $binlogs = @(Start-DbBackup main-db Binlog -Policy $policy)
        $global:BackupToolsTestServers.Redis.Command('SET locenc-marker LOCAL-SECRET-REDIS') | Out-Null
        $snapshot = Start-DbBackup cache -Policy $policy
        $modelVersion = Backup-AiModel llm -Policy $policy
        $modelHash = (Get-FileHash (Join-Path $model 'weights.txt')).Hash
        $repo = (Get-BackupPolicy -Policy $policy).Repository
    }
    AfterAll {
        $azurite.Dispose()
        Remove-Item Env:BT_TEST_LOCAL_CONN -ErrorAction SilentlyContinue
        $db.Sql('DROP DATABASE IF EXISTS locenc;') | Out-Null
    }

    It 'stores every data file of the sets as BTENC1 with nothing of the rows or keys in the clear' {
        ($full.Status, $snapshot.Status) | Should -Be @('Succeeded', 'Succeeded')
        $binlogs.Status | Sort-Object -Unique | Should -Be 'Succeeded'
        $modelVersion.Status | Should -Be 'Succeeded'
        $all = @(Get-ChildItem (Join-Path $repo 'mariadb'), (Join-Path $repo 'redis'), (Join-Path $repo 'models/llm/blobs') -Recurse -File)
        # The manifests and mariabackup's two metadata files (LSNs, binlog position, times) hold positions, no data.
        $data = @($all | Where-Object Name -notin 'manifest.json', 'xtrabackup_checkpoints', 'xtrabackup_info', 'mariadb_backup_checkpoints', 'mariadb_backup_info')
        $data.Count | Should -BeGreaterOrEqual 3
        foreach ($f in $data) {
            $f.Name | Should -BeLike '*.btenc'
            [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes($f.FullName), 0, 7) | Should -Be "BTENC1`n"
        }
        foreach ($m in Get-ChildItem (Join-Path $repo 'mariadb'), (Join-Path $repo 'redis') -Recurse -Filter manifest.json) {
            $files = (Get-Content $m.FullName -Raw | ConvertFrom-Json).Files | Where-Object Compression -like '*+btenc'
            $files | Should -Not -BeNullOrEmpty
            $files.KeyId | Sort-Object -Unique | Should -Be $key.KeyId -Because 'the key id is in every manifest'
        }
        # The small config file went into a pack: each blob there is a BTENC1 stream of its own, the index says so.
        $packs = @(Get-ChildItem (Join-Path $repo 'models/llm/packs') -Filter *.pack)
        $packs.Count | Should -Be 1
        [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes($packs[0].FullName), 0, 7) | Should -Be "BTENC1`n"
        [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes(($packs[0].FullName -replace '\.pack$', '.idx')), 0, 4) | Should -Be 'BKE1'
        foreach ($f in $all + @(Get-ChildItem (Join-Path $repo 'models/llm/packs') -Recurse -File)) {
            [Text.Encoding]::Latin1.GetString([IO.File]::ReadAllBytes($f.FullName)) | Should -Not -Match 'LOCAL-SECRET' -Because $f.FullName
        }
    }

    It 'verifies the sets without decrypting them, and restores MariaDB to the second and Redis from them' {
        Test-DbBackup -Target main-db -Policy $policy | ForEach-Object { $_.Status | Should -Be 'Verified' }
        $r = Restore-DbToPointInTime main-db $point -Destination (Join-Path $dir 'db') -Policy $policy -Confirm:$false -ValidationQuery 'SELECT COUNT(*) = 2 FROM locenc.t'
        $r.Validated | Should -BeTrue
        ($r.Tables | Where-Object Table -eq 'locenc.t').Rows | Should -Be 2
        $dest = Join-Path $dir 'redis'
        (Restore-DbToPointInTime cache ([DateTime]::UtcNow) -Destination $dest -Policy $policy -Confirm:$false).Validated | Should -BeTrue
        [Text.Encoding]::Latin1.GetString([IO.File]::ReadAllBytes((Join-Path $dest 'dump.rdb'))) | Should -Match 'LOCAL-SECRET-REDIS'
    }

    It 'verifies and restores the model from its encrypted blobs, byte-exact' {
        (Test-AiModelBackup llm -Policy $policy).Status | Should -Be 'Verified'
        $out = Join-Path $dir 'llm-restored'
        (Restore-AiModel llm -Destination $out -Policy $policy -Confirm:$false -ValidationScript { $true }).Validated | Should -BeTrue
        (Get-FileHash (Join-Path $out 'weights.txt')).Hash | Should -Be $modelHash
        Get-Content (Join-Path $out 'config.json') -Raw | Should -Match 'LOCAL-SECRET-CONFIG' # from its sealed pack
    }

    It 'copies them offsite and restores from there alone' {
        (Copy-BackupSet -Offsite azure -Policy $policy).Status | Sort-Object -Unique | Should -Be 'Succeeded'
        Remove-Item $repo -Recurse -Force
        $r = Restore-DbToPointInTime main-db $point -Destination (Join-Path $dir 'db-offsite') -Offsite azure -Policy $policy -Confirm:$false
        ($r.Tables | Where-Object Table -eq 'locenc.t').Rows | Should -Be 2
        $out = Join-Path $dir 'llm-offsite'
        $null = Restore-AiModel llm -Destination $out -Offsite azure -Policy $policy -Confirm:$false
        (Get-FileHash (Join-Path $out 'weights.txt')).Hash | Should -Be $modelHash
        Get-Content (Join-Path $out 'config.json') -Raw | Should -Match 'LOCAL-SECRET-CONFIG' # from its sealed pack
    }

    It 'refuses a backup, as a failed one, when the key cannot be read: nothing is stored in the clear' {
        $nokey = Join-Path $dir 'nokey.yml'
        (Get-Content $policy -Raw) -replace [regex]::Escape($key.Path), (Join-Path $dir 'missing.key') | Set-Content $nokey
        $b = Start-DbBackup cache -Policy $nokey -ErrorAction SilentlyContinue -ErrorVariable err
        $b.Status | Should -Be 'Failed'
        $b.Error | Should -Match 'encryption.local is on and the key cannot be read'
        $err.Count | Should -BeGreaterOrEqual 1
        @(Get-DbBackup -Target cache -Policy $nokey).Count | Should -Be 0
        $m = Backup-AiModel llm -Force -Policy $nokey -ErrorAction SilentlyContinue
        $m.Status | Should -Be 'Failed'
    }

    It 'Test-BackupPolicy says what encryption.local does not cover' {
        "config: { paths: [$dir/etc] }" | Add-Content $policy
        Test-BackupPolicy -Policy $policy -WarningVariable warned 3>$null | Should -BeTrue
        ($warned -join ' ') | Should -Match 'the config history .*stays unencrypted on this host'
    }
}

Describe 'Rotating the key of an encrypted local repository (previousKeyFiles)' {
    It 'reads the older sets with the previous key, stores new ones under the new key, and names the key a set needs when it is missing' {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $old = New-BackupEncryptionKey (Join-Path $dir 'old.key')
        $new = New-BackupEncryptionKey (Join-Path $dir 'new.key')
        $base = Get-Content $policy -Raw
        Set-Content $policy ($base + "`nencryption: { keyFile: $($old.Path), local: true }")
        (Start-DbBackup cache -Policy $policy).Status | Should -Be 'Succeeded'
        Set-Content $policy ($base + "`nencryption: { keyFile: $($new.Path), local: true, previousKeyFiles: [$($old.Path)] }")
        Start-Sleep -Milliseconds 1100
        $second = Start-DbBackup cache -Policy $policy
        $second.Status | Should -Be 'Succeeded'
        $newest = Get-ChildItem (Join-Path $dir "repo/redis/cache/snapshot/$($second.Id)") -Filter '*.btenc'
        [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes($newest.FullName), 7, 16) | Should -Be $new.KeyId
        $first = (Get-DbBackup -Target cache -Policy $policy | Sort-Object StartTime)[0]
        $first.Id | Should -Not -Be $second.Id
        $point = $first.EndTime
        # Each restore in a fresh pwsh: keys are found among those the policies loaded in the process name.
        function Invoke-Restore([string] $Destination) {
            $command = "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; try { `$r = Restore-DbToPointInTime cache ([DateTime]::Parse('$($point.ToString('o'))').ToUniversalTime()) -Destination '$Destination' -Policy '$policy' -Confirm:`$false -ErrorAction Stop; 'PLAN ' + `$r.Plan } catch { `$_.Exception.Message }"
            & ([Environment]::ProcessPath) (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command $command | Out-String
        }
        Invoke-Restore "$dir/old" | Should -Match "PLAN .*$($first.Id)" -Because 'the older set, stored under the previous key, is restored'
        Test-Path (Join-Path $dir 'old/dump.rdb') | Should -BeTrue
        # Without the previous key, the older set is refused by its key id.
        Set-Content $policy ($base + "`nencryption: { keyFile: $($new.Path), local: true }")
        Invoke-Restore "$dir/refused" | Should -Match $old.KeyId
        Test-Path (Join-Path $dir 'refused/dump.rdb') | Should -BeFalse
    }
}
