BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Backup-ConfigFile, Get-ConfigFileHistory, Restore-ConfigFile' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $etc = Join-Path $dir 'etc'
        New-Item -ItemType Directory (Join-Path $etc 'nginx') | Out-Null
        $site = Join-Path $etc 'nginx/site.conf'
        "listen 80;`n" | Set-Content $site -NoNewline
        'secret' | Set-Content (Join-Path $etc 'server.key')
        "`nconfig:`n  paths: [$etc]`n  exclude: ['*.bak']" | Add-Content $policy
        $first = Backup-ConfigFile -Policy $policy -WarningVariable warnings -WarningAction SilentlyContinue
    }

    It 'commits the policy''s paths, skips secrets with a warning, and makes no commit when nothing changed' {
        $first | Should -BeOfType ([BackupTools.Model.ConfigSnapshot])
        $first.Status | Should -Be 'Committed'
        $first.Added | Should -Be @($site)
        $first.Skipped | Should -Be @((Join-Path $etc 'server.key'))
        ($warnings -join "`n") | Should -Match 'server.key.*secret pattern'
        (Backup-ConfigFile -Policy $policy -WarningAction SilentlyContinue).Status | Should -Be 'Unchanged'
    }

    It 'takes paths from the pipeline and a message, and lists the history per file' {
        "listen 8080;`n" | Set-Content $site -NoNewline
        'old' | Set-Content (Join-Path $etc 'nginx/site.bak')
        $s = Get-Item $site | Backup-ConfigFile -Message 'nginx: move to 8080' -Policy $policy
        $s.Modified | Should -Be @($site)
        $h = Get-ConfigFileHistory -Path $site -Policy $policy
        $h.Change | Should -Be @('Modified', 'Added')
        $h[0].Message | Should -Be 'nginx: move to 8080'
        (Get-ConfigFileHistory -Policy $policy -Last 1).Commit | Should -Be $s.Commit
        Get-ConfigFileHistory -Policy $policy | Where-Object Path -like '*.bak' | Should -BeNullOrEmpty -Because 'config.exclude keeps it out'
    }

    It '-WhatIf shows the diff and writes nothing; a piped history entry restores that version' {
        $text = Restore-ConfigFile -Path $site -Commit $first.Commit -Policy $policy -WhatIf 6>&1 | Out-String
        Get-Content $site -Raw | Should -Be "listen 8080;`n"
        Get-ChildItem (Split-Path $site) -Filter '*.before-restore-*' | Should -BeNullOrEmpty
        $r = Get-ConfigFileHistory -Path $site -Policy $policy | Where-Object Change -eq 'Added' | Restore-ConfigFile -Policy $policy -Confirm:$false
        $r | Should -BeOfType ([BackupTools.Model.ConfigRestoreResult])
        Get-Content $site -Raw | Should -Be "listen 80;`n"
        Get-Content $r.PreviousCopy -Raw | Should -Be "listen 8080;`n"
    }

    It 'restores as of a time into another place' {
        $out = Join-Path $dir 'out'
        New-Item -ItemType Directory $out | Out-Null
        $r = Restore-ConfigFile -Path $site -AsOf (Get-Date) -Destination $out -Policy $policy -Confirm:$false
        $r.Destination | Should -Be (Join-Path $out 'site.conf')
        Get-Content $r.Destination -Raw | Should -Be "listen 8080;`n"
    }

    It 'says what to do for a file that is not in the history' {
        { Restore-ConfigFile -Path (Join-Path $etc 'nope.conf') -AsOf (Get-Date) -Policy $policy -Confirm:$false } |
            Should -Throw '*is not in the config history*Get-ConfigFileHistory*'
    }

    It 'reports a failed push as a Failed result and an error, keeping the commit' {
        (Get-Content $policy -Raw) -replace "exclude: \['\*.bak'\]", "exclude: ['*.bak']`n  remote: $dir/no-such-remote.git" | Set-Content $policy
        'x' | Set-Content (Join-Path $etc 'nginx/extra.conf')
        $s = Backup-ConfigFile -Policy $policy -ErrorAction SilentlyContinue -ErrorVariable err
        $s.Status | Should -Be 'Failed'
        $s.Commit | Should -Not -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'ConfigPushFailed,BackupTools.Commands.BackupConfigFileCommand'
    }
}
