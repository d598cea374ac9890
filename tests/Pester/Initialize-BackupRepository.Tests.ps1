BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Initialize-BackupRepository and Get-BackupRepository' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $repo = Join-Path $dir 'repo'
    }

    It '-WhatIf creates nothing' {
        Initialize-BackupRepository -Policy $policy -WhatIf | Should -BeNullOrEmpty
        $repo | Should -Not -Exist
    }

    It 'Get-BackupRepository warns that a missing repository does not exist yet' {
        $info = Get-BackupRepository -Policy $policy -WarningVariable warn -WarningAction SilentlyContinue
        $info.BackupSets | Should -Be 0
        $warn[0] | Should -Match 'Initialize-BackupRepository'
    }

    It 'creates a private layout with a config Git history, and is safe to repeat' {
        $info = Initialize-BackupRepository -Policy $policy
        $info | Should -BeOfType ([BackupTools.Model.RepositoryInfo])
        $info.ConfigHead | Should -Match '^[0-9a-f]{40}$'
        [Convert]::ToString([int](Get-Item $repo).UnixFileMode, 8) | Should -Be '700'
        Join-Path $repo '_journal' | Should -Exist
        (Initialize-BackupRepository -Policy $policy).ConfigHead | Should -Be $info.ConfigHead
    }

    It 'Get-BackupRepository shows an empty repository with its free space' {
        $info = Get-BackupRepository -Policy $policy
        $info.BackupSets | Should -Be 0
        $info.PartialSets | Should -Be 0
        $info.JournalEntries | Should -Be 0
        $info.FreeBytes | Should -BeGreaterThan 0
        $info.FreePercent | Should -BeGreaterThan 0
        ($info | Out-String) | Should -Match 'Free\s+:\s+[\d.,]+ GB'
    }
}
