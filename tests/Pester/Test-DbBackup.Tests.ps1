BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Test-DbBackup' {
    BeforeAll {
        $policy = New-TestPolicy
        $full = Start-DbBackup main-db -Policy $policy
        $inc = Start-DbBackup main-db Incremental -Policy $policy
    }

    It 'verifies every backup from the pipeline, and -Prepare proves the chain prepares' {
        $results = Get-DbBackup -Policy $policy | Test-DbBackup -Prepare
        $results | Should -HaveCount 2
        $results | ForEach-Object {
            $_ | Should -BeOfType ([BackupTools.Model.BackupVerification])
            $_.Status | Should -Be 'Verified'
            $_.Prepared | Should -BeTrue
            $_.FilesChecked | Should -Be 3
        }
    }

    It 'finds one flipped byte, names the file, and writes a non-terminating error' {
        $dir = New-TestDirectory
        $p = New-TestPolicy $dir
        $r = Start-DbBackup main-db -Policy $p
        $file = Join-Path $r.Path 'backup.mbstream.zst'
        $bytes = [IO.File]::ReadAllBytes($file)
        $bytes[[int]($bytes.Length / 2)] = $bytes[[int]($bytes.Length / 2)] -bxor 0x01
        [IO.File]::WriteAllBytes($file, $bytes)
        $result = $r | Test-DbBackup -ErrorAction SilentlyContinue -ErrorVariable err
        $result.Status | Should -Be 'Corrupt'
        $result.File | Should -Be 'backup.mbstream.zst'
        $err[0].FullyQualifiedErrorId | Should -Be 'BackupCorrupt,BackupTools.Commands.TestDbBackupCommand'
        $err[0].Exception.Message | Should -Match $r.Id
    }

    It 'reports a missing file as Missing' {
        $dir = New-TestDirectory
        $p = New-TestPolicy $dir
        $r = Start-DbBackup main-db -Policy $p
        Remove-Item (Join-Path $r.Path 'xtrabackup_info')
        $result = Test-DbBackup -Target main-db -Policy $p -ErrorAction SilentlyContinue -ErrorVariable err
        $result.Status | Should -Be 'Missing'
        $result.File | Should -Be 'xtrabackup_info'
        $err | Should -HaveCount 1
    }

    It 'warns about a Failed record instead of testing it' {
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $failed = Start-DbBackup main-db -Policy $policy -Credential $cred -ErrorAction SilentlyContinue
        $out = $failed | Test-DbBackup -WarningVariable warn -WarningAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $warn[0].Message | Should -Match 'no backup set to test'
    }
}
