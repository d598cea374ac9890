BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Get-BackupStatus and Export-BackupMetric' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $full = Start-DbBackup main-db -Policy $policy
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $null = Start-DbBackup main-db Incremental -Policy $policy -Credential $cred -ErrorAction SilentlyContinue
    }

    It 'reports each type of each target, most severe first, then the storage' {
        $all = Get-BackupStatus -Policy $policy
        $status = $all | Where-Object { $_ -is [BackupTools.Model.BackupStatus] }
        $storage = $all | Where-Object { $_ -is [BackupTools.Model.StorageStatus] }
        $status[0].Severity | Should -Be 'Critical'
        $failed = $status | Where-Object { $_.Target -eq 'main-db' -and $_.Type -eq 'incremental' }
        $failed.State | Should -Be 'Failed'
        $failed.LastError | Should -Match 'refused the login|failed with exit code'
        $ok = $status | Where-Object { $_.Target -eq 'main-db' -and $_.Type -eq 'full' }
        $ok.State | Should -Be 'Ok'
        $ok.LastSuccess | Should -BeGreaterOrEqual $full.StartTime
        $ok.RetainedCount | Should -Be 1
        ($status | Where-Object { $_.Target -eq 'cache' -and $_.Type -eq 'snapshot' }).State | Should -Be 'Never'
        $storage.Path | Should -Be (Get-BackupPolicy -Policy $policy).Repository
        $storage.TotalBytes | Should -BeGreaterThan $storage.FreeBytes
        $all[-1] | Should -BeOfType ([BackupTools.Model.StorageStatus])
    }

    It 'sees a daily full as delayed two days on' {
        $later = Get-BackupStatus -Policy $policy -Target main-db -AsOf (Get-Date).AddDays(2) | Where-Object { $_.Type -eq 'full' }
        $later.State | Should -Be 'Delayed'
        $later.Severity | Should -Be 'Warning'
        $later.Message | Should -Match 'was due at'
    }

    It 'writes a node_exporter textfile with one series per target and type' {
        $file = Export-BackupMetric -Path (Join-Path $dir 'metrics/backuptools.prom') -Policy $policy
        $file | Should -BeOfType ([IO.FileInfo])
        $text = [IO.File]::ReadAllText($file.FullName)
        $text | Should -Match 'backuptools_state\{target="main-db",engine="mariadb",type="incremental"\} 2\n'
        $text | Should -Match 'backuptools_storage_free_bytes\{path="[^"]+"\} \d+\n'
        $text.EndsWith("`n") | Should -BeTrue
        $text | Should -Not -Match "`r"
    }
}
