BeforeAll { . $PSScriptRoot/Common.ps1 }

# The issue's round trip, through each store: a MariaDB chain (full, incremental, binary logs), a Redis snapshot, a
# model with two versions and the config history copied; the local repository deleted; then everything restored from
# the offsite copy alone, byte-exact and to the exact second.
Describe 'Offsite round trip through <Kind>' -ForEach @(@{ Kind = 'azureBlob' }, @{ Kind = 's3' }) {
    BeforeAll {
        $db = $global:BackupToolsTestServers.MariaDb
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $key = New-BackupEncryptionKey (Join-Path $dir 'backup.key')
        if ($Kind -eq 'azureBlob') {
            $server = [BackupTools.TestServers.AzuriteServer]::Start((Join-Path $dir 'store'))
            $env:BT_TEST_RT_CONN = $server.ConnectionString
            $store = "kind: azureBlob, connectionStringEnv: BT_TEST_RT_CONN, container: roundtrip, prefix: prod/"
        }
        else {
            $server = [BackupTools.TestServers.S3rverServer]::Start((Join-Path $dir 'store'))
            $env:BT_TEST_RT_KEY = [BackupTools.TestServers.S3rverServer]::AccessKeyId
            $env:BT_TEST_RT_SECRET = [BackupTools.TestServers.S3rverServer]::SecretAccessKey
            $store = "kind: s3, endpoint: $($server.Endpoint), region: us-east-1, bucket: roundtrip, prefix: prod/, accessKeyIdEnv: BT_TEST_RT_KEY, secretAccessKeyEnv: BT_TEST_RT_SECRET"
        }
        $model = Join-Path $dir 'models/llm'
        $etc = Join-Path $dir 'etc'
        New-Item -ItemType Directory $model, $etc -Force | Out-Null
        "`nmodels: { llm: { path: $model } }`nconfig: { paths: [$etc] }`noffsite:`n  away: { $store, copies: [main-db, cache, llm, config] }`nencryption: { keyFile: $($key.Path) }" |
            Add-Content $policy
        $schema = "rt_$($Kind.ToLowerInvariant())"

        $db.Sql("CREATE DATABASE $schema; CREATE TABLE $schema.t (id INT PRIMARY KEY, txt TEXT) ENGINE=InnoDB;") | Out-Null
        # An older full the restore below does not need: the offsite fetch must leave it there.
        (Start-DbBackup main-db Full -Policy $policy).Status | Should -Be 'Succeeded'
        $db.Sql("INSERT INTO $schema.t VALUES (1, 'KNOWN-ROW-$schema-in-the-full');") | Out-Null
        (Start-DbBackup main-db Full -Policy $policy).Status | Should -Be 'Succeeded'
        $db.Sql("INSERT INTO $schema.t VALUES (2, 'in-the-incremental');") | Out-Null
        (Start-DbBackup main-db Incremental -Policy $policy).Status | Should -Be 'Succeeded'
        $db.Sql("INSERT INTO $schema.t VALUES (3, 'in-the-binlog-before');") | Out-Null
        Start-Sleep -Milliseconds 1100
        $point = [DateTime]::UtcNow
        Start-Sleep -Milliseconds 1100
        $db.Sql("INSERT INTO $schema.t VALUES (4, 'after-the-point');") | Out-Null
        (Start-DbBackup main-db Binlog -Policy $policy).Status | Should -Be 'Succeeded'

        $global:BackupToolsTestServers.Redis.Command('SET rt-marker REDIS-PLAINTEXT-MARKER') | Out-Null
        (Start-DbBackup cache -Policy $policy).Status | Should -Be 'Succeeded'

        '{ "version": "1.0" }' | Set-Content (Join-Path $model 'config.json')
        $weights = [byte[]]::new(20MB); [Random]::new(5).NextBytes($weights)
        [IO.File]::WriteAllBytes((Join-Path $model 'weights.bin'), $weights)
        $null = Backup-AiModel -Name llm -Path $model -Policy $policy
        '{ "version": "1.1" }' | Set-Content (Join-Path $model 'config.json')
        $null = Backup-AiModel -Name llm -Path $model -Policy $policy
        $modelHashes = Get-ChildItem $model -File | ForEach-Object { @{ $_.Name = (Get-FileHash $_.FullName).Hash } }

        'first = 1' | Set-Content (Join-Path $etc 'app.conf')
        $null = Backup-ConfigFile -Policy $policy
        Start-Sleep -Milliseconds 1100
        $configPoint = [DateTime]::UtcNow
        Start-Sleep -Milliseconds 1100
        'second = 2' | Set-Content (Join-Path $etc 'app.conf')
        $null = Backup-ConfigFile -Policy $policy

        $copied = @(Copy-BackupSet -Offsite away -Policy $policy)
        $again = @(Copy-BackupSet -Offsite away -Policy $policy)
        Remove-Item (Get-BackupPolicy -Policy $policy).Repository -Recurse -Force
        Remove-Item $model -Recurse -Force
    }
    AfterAll {
        $server.Dispose()
        Remove-Item Env:BT_TEST_RT_CONN, Env:BT_TEST_RT_KEY, Env:BT_TEST_RT_SECRET -ErrorAction SilentlyContinue
        $db.Sql("DROP DATABASE IF EXISTS $schema;") | Out-Null
    }

    It 'copied every part once: the chain, the snapshot, both model versions (shared blob once) and the config history' {
        $copied | Where-Object Status -ne 'Succeeded' | Should -BeNullOrEmpty
        ($copied | Where-Object Target -eq 'main-db').Type | Sort-Object -Unique | Should -Be @('binlog', 'full', 'incremental')
        ($copied | Where-Object Target -eq 'cache').Count | Should -BeGreaterOrEqual 1
        $models = @($copied | Where-Object Type -eq 'model' | Sort-Object Id)
        $models.Id | Should -Be @('1.0', '1.1')
        $models[1].AlreadyThere | Should -BeGreaterOrEqual 1 -Because 'the weights blob of 1.0 is not sent again for 1.1'
        $models[1].BytesSent | Should -BeLessThan 1KB
        ($copied | Where-Object Target -eq 'config').Status | Should -Be 'Succeeded'
        ($again | Measure-Object Sent -Sum).Sum | Should -Be 0 -Because 'a second copy sends nothing'
    }

    It 'holds no plaintext of known rows, keys or files in the stored objects' {
        foreach ($f in Get-ChildItem $server.DataDirectory -Recurse -File) {
            $text = [Text.Encoding]::Latin1.GetString([IO.File]::ReadAllBytes($f.FullName))
            $text | Should -Not -Match "KNOWN-ROW-$schema|REDIS-PLAINTEXT-MARKER|first = 1|second = 2" -Because $f.FullName
        }
    }

    It 'restores MariaDB to the exact second from the offsite copy alone' {
        $plan = @(Get-DbBackup -Target main-db -Offsite away -Policy $policy)
        $plan.Type | Should -Contain 'incremental'
        $dest = Join-Path $dir 'db'
        $verbose = @(Get-DbRestorePlan main-db $point -Offsite away -Policy $policy -Verbose 4>&1)
        $restorePlan = $verbose | Where-Object { $_ -is [BackupTools.Model.RestorePlan] }
        $fetchedLine = ($verbose | Where-Object { $_ -is [Management.Automation.VerboseRecord] -and $_.Message -match '^Fetched (\d+) of the (\d+) sets' }).Message
        $fetchedLine | Should -Not -BeNullOrEmpty
        $null = $fetchedLine -match '^Fetched (\d+) of the (\d+) sets'
        [int]$Matches[1] | Should -Be ([int]$Matches[2] - 1) -Because 'every set but the older full is needed to reach the point'
        $restorePlan.ChecksumsVerified | Should -BeTrue
        $restorePlan.Incrementals.Count | Should -BeGreaterOrEqual 1
        Get-ChildItem (Join-Path (Get-BackupPolicy -Policy $policy).Repository '_scratch') | Should -BeNullOrEmpty -Because 'the planning fetch is removed'
        $r = $restorePlan | Restore-DbToPointInTime -Destination $dest -Offsite away -Policy $policy -Confirm:$false `
            -ValidationQuery "SELECT COUNT(*) = 3 AND MAX(id) = 3 FROM $schema.t"
        $r.Validated | Should -BeTrue
        ($r.Tables | Where-Object Table -eq "$schema.t").Rows | Should -Be 3 -Because 'rows 1-3 were committed before the point and row 4 after it'
    }

    It 'restores the Redis snapshot from the offsite copy alone' {
        $dest = Join-Path $dir 'redis'
        $r = Restore-DbToPointInTime cache ([DateTime]::UtcNow) -Destination $dest -Offsite away -Policy $policy -Confirm:$false
        $r.Validated | Should -BeTrue
        [Text.Encoding]::Latin1.GetString([IO.File]::ReadAllBytes((Join-Path $dest 'dump.rdb'))) | Should -Match 'REDIS-PLAINTEXT-MARKER'
    }

    It 'lists and restores both model versions byte-exact from the offsite copy alone' {
        (Get-AiModelBackup -Offsite away -Policy $policy).Version | Should -Be @('1.1', '1.0')
        $r = Restore-AiModel llm 1.1 -Offsite away -Policy $policy -Confirm:$false -ValidationScript { param($d) Test-Path "$d/weights.bin" }
        $r.Validated | Should -BeTrue
        Get-ChildItem $model -File | ForEach-Object { @{ $_.Name = (Get-FileHash $_.FullName).Hash } } | ConvertTo-Json | Should -Be ($modelHashes | ConvertTo-Json)
        $old = Join-Path $dir 'llm-1.0'
        (Restore-AiModel llm 1.0 -Destination $old -Offsite away -Policy $policy -Confirm:$false -ValidationScript { $true }).Validated | Should -BeTrue
        Get-Content (Join-Path $old 'config.json') | Should -Match '1\.0'
        Get-ChildItem (Join-Path (Get-BackupPolicy -Policy $policy).Repository '_scratch') | Should -BeNullOrEmpty
    }

    It 'reads the config history and restores a file as of a time from the offsite copy alone' {
        @(Get-ConfigFileHistory -Offsite away -Policy $policy).Count | Should -Be 2
        $out = Join-Path $dir 'restored-app.conf'
        Restore-ConfigFile (Join-Path $etc 'app.conf') -AsOf $configPoint -Destination $out -Offsite away -Policy $policy -WhatIf
        Test-Path $out | Should -BeFalse
        Get-ChildItem (Join-Path (Get-BackupPolicy -Policy $policy).Repository '_scratch') -ErrorAction Ignore | Should -BeNullOrEmpty -Because '-WhatIf fetches nothing'
        $null = Restore-ConfigFile (Join-Path $etc 'app.conf') -AsOf $configPoint -Destination $out -Offsite away -Policy $policy -Confirm:$false
        Get-Content $out | Should -Be 'first = 1'
    }
}

# s3rver keeps each object as a plain file, so a test can flip one byte of what is stored, as a failing disk or an
# attacker there would.
Describe 'A damaged or foreign offsite copy' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $key = New-BackupEncryptionKey (Join-Path $dir 'backup.key')
        $server = [BackupTools.TestServers.S3rverServer]::Start((Join-Path $dir 'store'))
        $env:BT_TEST_DMG_KEY = [BackupTools.TestServers.S3rverServer]::AccessKeyId
        $env:BT_TEST_DMG_SECRET = [BackupTools.TestServers.S3rverServer]::SecretAccessKey
        "`noffsite:`n  away: { kind: s3, endpoint: $($server.Endpoint), region: us-east-1, bucket: damaged, accessKeyIdEnv: BT_TEST_DMG_KEY, secretAccessKeyEnv: BT_TEST_DMG_SECRET, copies: [cache] }`nencryption: { keyFile: $($key.Path) }" |
            Add-Content $policy
        (Start-DbBackup cache -Policy $policy).Status | Should -Be 'Succeeded'
        (Copy-BackupSet -Offsite away -Policy $policy).Status | Should -Be 'Succeeded'
    }
    AfterAll {
        $server.Dispose()
        Remove-Item Env:BT_TEST_DMG_KEY, Env:BT_TEST_DMG_SECRET -ErrorAction SilentlyContinue
    }

    It 'names the key id a restore needs when it is given another key' {
        $other = New-BackupEncryptionKey (Join-Path $dir 'other.key')
        $foreign = Join-Path $dir 'foreign.yml'
        (Get-Content $policy -Raw) -replace [regex]::Escape($key.Path), $other.Path | Set-Content $foreign
        $e = { Get-DbBackup -Target cache -Offsite away -Policy $foreign } | Should -Throw -PassThru
        $e.Exception.Message | Should -Match $key.KeyId
        $e.Exception.Message | Should -Match $other.KeyId
    }

    It 'fails the restore on one flipped byte before anything is written to the destination' {
        $dump = Get-ChildItem (Join-Path $dir 'store') -Recurse -File | Where-Object Name -like 'dump.rdb*.btenc._S3rver_object' | Select-Object -First 1
        $bytes = [IO.File]::ReadAllBytes($dump.FullName)
        $bytes[$bytes.Length - 20] = $bytes[$bytes.Length - 20] -bxor 1
        [IO.File]::WriteAllBytes($dump.FullName, $bytes)
        $dest = Join-Path $dir 'never'
        { Restore-DbToPointInTime cache ([DateTime]::UtcNow) -Destination $dest -Offsite away -Policy $policy -Confirm:$false } | Should -Throw '*damaged*Copy-BackupSet*'
        Test-Path $dest | Should -BeFalse
        Get-ChildItem (Join-Path (Get-BackupPolicy -Policy $policy).Repository '_scratch') | Should -BeNullOrEmpty
    }
}

# Opt-in: real cloud stores, from environment variables (never in the repository). Each run writes under a new
# prefix (bt-test/<random>/) and leaves its few small objects there; point it at a container or bucket for tests.
Describe 'Offsite round trip against a real cloud store (opt-in)' {
    BeforeAll {
        function Test-RealStore([string] $Store) {
            $dir = New-TestDirectory
            $policy = New-TestPolicy $dir
            $key = New-BackupEncryptionKey (Join-Path $dir 'backup.key')
            $prefix = "bt-test/$([guid]::NewGuid().ToString('N').Substring(0, 8))/"
            "`noffsite:`n  real: { $Store, prefix: $prefix, copies: [cache] }`nencryption: { keyFile: $($key.Path) }" | Add-Content $policy
            $checks = @(Test-BackupTarget -Offsite real -Policy $policy)
            $checks | Where-Object Level -ne 'Ok' | ForEach-Object { throw "$($_.Check): $($_.Detail)" }
            $global:BackupToolsTestServers.Redis.Command('SET real-cloud-marker yes') | Out-Null
            (Start-DbBackup cache -Policy $policy).Status | Should -Be 'Succeeded'
            (Copy-BackupSet -Offsite real -Policy $policy).Status | Should -Be 'Succeeded'
            Remove-Item (Get-BackupPolicy -Policy $policy).Repository -Recurse -Force
            @(Get-DbBackup -Target cache -Offsite real -Policy $policy).Count | Should -Be 1
            $r = Restore-DbToPointInTime cache ([DateTime]::UtcNow) -Destination (Join-Path $dir 'restored') -Offsite real -Policy $policy -Confirm:$false
            $r.Validated | Should -BeTrue
        }
    }

    It 'Azure Blob Storage (BACKUPTOOLS_TEST_AZURE_CONN, BACKUPTOOLS_TEST_AZURE_CONTAINER)' -Skip:(-not $env:BACKUPTOOLS_TEST_AZURE_CONN) {
        Test-RealStore "kind: azureBlob, connectionStringEnv: BACKUPTOOLS_TEST_AZURE_CONN, container: $(if ($env:BACKUPTOOLS_TEST_AZURE_CONTAINER) { $env:BACKUPTOOLS_TEST_AZURE_CONTAINER } else { 'backuptools-test' })"
    }

    It 'S3 (BACKUPTOOLS_TEST_S3_BUCKET, BACKUPTOOLS_TEST_S3_REGION; BACKUPTOOLS_TEST_S3_ENDPOINT, _KEY and _SECRET optional)' -Skip:(-not $env:BACKUPTOOLS_TEST_S3_BUCKET) {
        $store = "kind: s3, bucket: $env:BACKUPTOOLS_TEST_S3_BUCKET, region: $(if ($env:BACKUPTOOLS_TEST_S3_REGION) { $env:BACKUPTOOLS_TEST_S3_REGION } else { 'us-east-1' })"
        if ($env:BACKUPTOOLS_TEST_S3_ENDPOINT) { $store += ", endpoint: $env:BACKUPTOOLS_TEST_S3_ENDPOINT" }
        if ($env:BACKUPTOOLS_TEST_S3_KEY) { $store += ', accessKeyIdEnv: BACKUPTOOLS_TEST_S3_KEY, secretAccessKeyEnv: BACKUPTOOLS_TEST_S3_SECRET' }
        Test-RealStore $store
    }
}
