BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Get-BackupPolicy' {
    BeforeAll { $policy = New-TestPolicy }

    It 'returns the parsed policy as a BackupPolicy with typed targets' {
        $p = Get-BackupPolicy -Policy $policy
        $p | Should -BeOfType ([BackupTools.Model.BackupPolicy])
        $p.Targets.Name | Should -Be @('main-db', 'cache', 'search')
        ($p.Targets | Where-Object Name -eq 'main-db').Retention['full'] | Should -Be ([timespan]::FromDays(30))
        $p.Alerts.CriticalRoute | Should -BeNullOrEmpty -Because 'the test policy configures no channel, and default routes keep only configured ones'
    }

    It 'never shows the secret, only where it comes from' {
        $env:BT_TEST_DB_PASSWORD | Should -Not -BeNullOrEmpty
        $text = Get-BackupPolicy -Policy $policy | ConvertTo-Json -Depth 6
        $text | Should -Not -Match ([regex]::Escape($env:BT_TEST_DB_PASSWORD))
        (Get-BackupPolicy -Policy $policy).Targets[0].PasswordSource | Should -Be 'env:BT_TEST_DB_PASSWORD'
        (Get-BackupPolicy -Policy $policy | Out-String) | Should -Not -Match ([regex]::Escape($env:BT_TEST_DB_PASSWORD))
    }

    It 'finds the policy through $env:BACKUPTOOLS_POLICY when -Policy is not given' {
        $saved = $env:BACKUPTOOLS_POLICY
        try {
            $env:BACKUPTOOLS_POLICY = $policy
            (Get-BackupPolicy).Path | Should -Be $policy
        }
        finally { $env:BACKUPTOOLS_POLICY = $saved }
    }

    It 'resolves a relative -Policy against the PowerShell location' {
        Push-Location (Split-Path $policy)
        try { (Get-BackupPolicy -Policy ./policy.yml).Path | Should -Be $policy }
        finally { Pop-Location }
    }

    It 'stops with PolicyNotFound naming the path and the ways to give one' {
        { Get-BackupPolicy -Policy /nonexistent/policy.yml } | Should -Throw -ErrorId 'PolicyNotFound,BackupTools.Commands.GetBackupPolicyCommand'
        try { Get-BackupPolicy -Policy /nonexistent/policy.yml } catch { $err = $_ }
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err.Exception.Message | Should -Match '/nonexistent/policy.yml'
        $err.Exception.Message | Should -Match 'BACKUPTOOLS_POLICY'
    }

    It 'stops with PolicyInvalid and the first problem at its line when the policy is broken' {
        $bad = Join-Path (New-TestDirectory) 'bad.yml'
        Set-Content $bad "repository: /backup`ntargets: {}`nstorage: { warningFreePercent: 200 }"
        try { Get-BackupPolicy -Policy $bad } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'PolicyInvalid,BackupTools.Commands.GetBackupPolicyCommand'
        $err.Exception.Message | Should -Match "bad.yml:3:32: storage.warningFreePercent: '200' is not a whole number from 0 to 100"
    }
}
