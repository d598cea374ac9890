BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Test-BackupTarget' {
    BeforeAll { $policy = New-TestPolicy }

    It 'reaches every target of the policy with its own client and reports the server version' {
        $checks = Test-BackupTarget -Policy $policy -TimeoutSec 10
        $checks | Should -HaveCount 3
        $checks | ForEach-Object { $_ | Should -BeOfType ([BackupTools.Model.TargetCheck]) }
        $checks | ForEach-Object { $_.Reachable | Should -BeTrue -Because "$($_.Target): $($_.Error)" }
        ($checks | Where-Object Target -eq 'main-db').ServerVersion | Should -Match 'MariaDB'
    }

    It 'selects targets by wildcard and binds -Target by property name from the pipeline' {
        (Test-BackupTarget -Policy $policy -Target 'ma*').Target | Should -Be 'main-db'
        ([pscustomobject]@{ Target = 'cache'; Policy = $policy } | Test-BackupTarget).Target | Should -Be 'cache'
        ('cache', 'search' | Test-BackupTarget -Policy $policy).Target | Should -Be @('cache', 'search')
    }

    It 'writes TargetNotFound for a name the policy lacks and goes on with the rest' {
        $checks = Test-BackupTarget -Policy $policy -Target 'nope', 'cache' -ErrorAction SilentlyContinue -ErrorVariable err
        $checks.Target | Should -Be 'cache'
        $err[0].FullyQualifiedErrorId | Should -Be 'TargetNotFound,BackupTools.Commands.TestBackupTargetCommand'
        $err[0].Exception.Message | Should -Match "no target 'nope'.*main-db, cache, search"
    }

    It 'reports a wrong -Credential as unreachable with the server''s reason' {
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $check = Test-BackupTarget -Policy $policy -Target main-db -Credential $cred
        $check.Reachable | Should -BeFalse
        $check.Error | Should -Match 'Access denied'
    }

    It 'says which variable to set when the policy''s password variable is missing' {
        $saved = $env:BT_TEST_DB_PASSWORD
        try {
            Remove-Item Env:BT_TEST_DB_PASSWORD
            $null = Test-BackupTarget -Policy $policy -Target main-db -ErrorAction SilentlyContinue -ErrorVariable err
            $err[0].FullyQualifiedErrorId | Should -Be 'SecretUnavailable,BackupTools.Commands.TestBackupTargetCommand'
            $err[0].Exception.Message | Should -Match 'BT_TEST_DB_PASSWORD'
        }
        finally { $env:BT_TEST_DB_PASSWORD = $saved }
    }

    It 'tab-completes -Target from the policy''s target names' {
        $line = "Test-BackupTarget -Policy '$policy' -Target c"
        $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $completion.CompletionMatches.CompletionText | Should -Be @('cache')
        $line = "Test-BackupTarget -Policy '$policy' -Target "
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('cache', 'main-db', 'search')
    }
}

Describe 'Test-BackupTarget against a real Elasticsearch cluster (opt-in)' {
    It 'reaches the cluster named by BACKUPTOOLS_TEST_ELASTICSEARCH_URL' -Skip:(-not $env:BACKUPTOOLS_TEST_ELASTICSEARCH_URL) {
        $dir = New-TestDirectory
        $p = Join-Path $dir 'policy.yml'
        Set-Content $p "repository: $dir/repo`ntargets:`n  real:`n    engine: elasticsearch`n    url: $env:BACKUPTOOLS_TEST_ELASTICSEARCH_URL`n    snapshotRepository: backups"
        $check = Test-BackupTarget -Policy $p
        $check.Reachable | Should -BeTrue -Because $check.Error
        $check.ServerVersion | Should -Match '^\d+\.\d+'
    }
}
