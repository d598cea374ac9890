BeforeAll {
    . $PSScriptRoot/Common.ps1
    # ~32 MB of incompressible rows, so a backup runs long enough to be killed in the middle.
    $global:BackupToolsTestServers.MariaDb.Sql(@'
CREATE DATABASE IF NOT EXISTS pbulk;
CREATE TABLE IF NOT EXISTS pbulk.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARBINARY(1024)) ENGINE=InnoDB;
SET SESSION max_recursive_iterations = 100000;
INSERT INTO pbulk.t (v) WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 32768) SELECT RANDOM_BYTES(1024) FROM s;
'@) | Out-Null
}

Describe 'Start-DbBackup' {
    BeforeAll {
        $policy = New-TestPolicy
        $repo = (Get-BackupPolicy -Policy $policy).Repository
    }

    It 'takes a full backup (the default type) and returns a BackupRecord with its binlog coordinates' {
        $r = Start-DbBackup -Target main-db -Policy $policy
        $r | Should -BeOfType ([BackupTools.Model.BackupRecord])
        $r.Status | Should -Be 'Succeeded'
        $r.Type | Should -Be 'full'
        $r.StartTime.Kind | Should -Be 'Utc'
        $r.BinlogFile | Should -Match '^mariadb-bin\.\d{6}$'
        $r.StoredBytes | Should -BeGreaterThan 0
        $r.PolicyPath | Should -Be $policy
        Test-Path (Join-Path $r.Path 'manifest.json') | Should -BeTrue
    }

    It 'a Redis target whose secret is missing fails as a redis record, journaled, so Get-DbBackup and the alerts see it' {
        $dir = New-TestDirectory
        $p = Join-Path $dir 'missing-secret.yml'
        (Get-Content $policy -Raw) -replace '(?m)^(\s+)port: (\d+)\r?\n(\s+)schedule: \{ snapshot', "`$1port: `$2`n`$1passwordEnv: BT_TEST_NO_SUCH_SECRET`n`$3schedule: { snapshot" | Set-Content $p
        (Get-Content $p -Raw) | Should -Match 'passwordEnv: BT_TEST_NO_SUCH_SECRET'
        $r = Start-DbBackup -Target cache -Policy $p -ErrorVariable err -ErrorAction SilentlyContinue
        $r.Status | Should -Be 'Failed'
        $r.Engine | Should -Be 'redis'
        $r.Type | Should -Be 'snapshot'
        $err[0].Exception.Message | Should -Match 'BT_TEST_NO_SUCH_SECRET'
        $journaled = @(Get-DbBackup -Target cache -Policy $p -Status Failed | Where-Object Id -eq $r.Id)
        $journaled.Count | Should -Be 1
        $journaled[0].Engine | Should -Be 'redis'
    }

    It 'binds -Target by property name and continues the chain with -Type Incremental -Verify' {
        $r = [pscustomobject]@{ Target = 'main-db'; Policy = $policy } | Start-DbBackup -Type Incremental -Verify
        $r.Status | Should -Be 'Succeeded'
        $r.ParentId | Should -Not -BeNullOrEmpty
        $r.FromLsn | Should -Not -BeNullOrEmpty
    }

    It 'archives binary logs with -Type Binlog, one record per closed file' {
        $global:BackupToolsTestServers.MariaDb.Sql('FLUSH BINARY LOGS') | Out-Null
        $r = @(Start-DbBackup main-db Binlog -Policy $policy)
        $r.Count | Should -BeGreaterOrEqual 2
        $r | ForEach-Object { $_.Status | Should -Be 'Succeeded'; $_.BinlogFile | Should -Not -BeNullOrEmpty; $_.LastEventTime | Should -Not -BeNullOrEmpty }
    }

    It 'reports a failure as a Failed record AND a non-terminating error, so a pipeline sees it' {
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $r = Start-DbBackup main-db -Policy $policy -Credential $cred -ErrorAction SilentlyContinue -ErrorVariable err
        $r.Status | Should -Be 'Failed'
        $r.Error | Should -Match 'refused the login'
        $r.Path | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'MariaBackupFailed,BackupTools.Commands.StartDbBackupCommand'
        $err[0].TargetObject | Should -Be 'main-db'
        Get-ChildItem $repo -Recurse -Directory -Filter '*.partial' | Should -BeNullOrEmpty
    }

    It 'says to run a full first when a target has no full backup' {
        $fresh = New-TestPolicy
        $r = Start-DbBackup main-db Incremental -Policy $fresh -ErrorAction SilentlyContinue -ErrorVariable err
        $r.Status | Should -Be 'Failed'
        $err[0].FullyQualifiedErrorId | Should -Be 'NoFullBackup,BackupTools.Commands.StartDbBackupCommand'
        $err[0].Exception.Message | Should -Match 'Start-DbBackup -Target main-db -Type Full'
    }

    It 'refuses a backup type the engine lacks with a clear error and goes on to the next target' {
        $r = Start-DbBackup search, main-db -Type Full -Policy $policy -ErrorAction SilentlyContinue -ErrorVariable err
        $r.Target | Should -Be 'main-db'
        $err[0].FullyQualifiedErrorId | Should -Be 'TypeNotSupported,BackupTools.Commands.StartDbBackupCommand'
        $err[0].Exception.Message | Should -Match "'search' \(Elasticsearch\) takes snapshots only"
    }

    It 'stores the stream uncompressed when the policy says compression: none' {
        $dir = New-TestDirectory
        $p = New-TestPolicy $dir
        (Get-Content $p -Raw) -replace 'storage: \{', 'storage: { compression: none,' | Set-Content $p
        $r = Start-DbBackup main-db -Policy $p
        Test-Path (Join-Path $r.Path 'backup.mbstream') | Should -BeTrue
        $r.StoredBytes | Should -Be $r.RawBytes
    }

    It 'leaves nothing listed when pwsh is killed with SIGKILL mid-backup, and the next run succeeds' {
        $dir = New-TestDirectory
        $p = New-TestPolicy $dir
        $psi = [Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
        foreach ($a in @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command',
                "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; Start-DbBackup main-db -Policy '$p'")) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $child = [Diagnostics.Process]::Start($psi)
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        $fullDir = Join-Path $dir 'repo/mariadb/main-db/full'
        while ([DateTime]::UtcNow -lt $deadline -and -not (Get-ChildItem $fullDir -Recurse -File -Filter 'backup.mbstream*' -ErrorAction Ignore | Where-Object Length -gt 0)) {
            Start-Sleep -Milliseconds 20
        }
        $child.HasExited | Should -BeFalse -Because 'the backup must still be running when it is killed'
        kill -9 $child.Id
        $child.WaitForExit()
        Get-DbBackup -Policy $p | Should -BeNullOrEmpty
        $next = Start-DbBackup main-db -Policy $p -Verbose 4>&1
        ($next | Where-Object { $_ -is [BackupTools.Model.BackupRecord] }).Status | Should -Be 'Succeeded'
        ($next | Where-Object { $_ -is [Management.Automation.VerboseRecord] }).Message -join "`n" | Should -Match 'left by a run that did not finish'
        @(Get-DbBackup -Policy $p).Count | Should -Be 1
    }
}
