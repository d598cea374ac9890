BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Get-DbBackup' {
    BeforeAll {
        $policy = New-TestPolicy
        Initialize-BackupRepository -Policy $policy | Out-Null # config/ holds a Git repository beside the sets
        $full = Start-DbBackup main-db -Policy $policy
        $inc1 = Start-DbBackup main-db Incremental -Policy $policy
        $inc2 = Start-DbBackup main-db Incremental -Policy $policy
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $failed = Start-DbBackup main-db -Policy $policy -Credential $cred -ErrorAction SilentlyContinue
    }

    It 'lists the catalog oldest first as BackupRecords that match what Start-DbBackup returned' {
        $all = Get-DbBackup -Policy $policy -WarningVariable warnings
        $warnings | Should -BeNullOrEmpty -Because 'only engine directories hold backup sets'
        $all.Id | Should -Be @($full.Id, $inc1.Id, $inc2.Id)
        $all[1].ParentId | Should -Be $full.Id
        $all[0].BinlogPosition | Should -Be $full.BinlogPosition
    }

    It 'filters by -Type, -Last, -After and -Before' {
        (Get-DbBackup -Policy $policy -Type Incremental).Id | Should -Be @($inc1.Id, $inc2.Id)
        (Get-DbBackup -Policy $policy -Last 1).Id | Should -Be $inc2.Id
        (Get-DbBackup -Policy $policy -After $full.StartTime).Id | Should -Be @($inc1.Id, $inc2.Id)
        (Get-DbBackup -Policy $policy -Before $inc1.StartTime).Id | Should -Be $full.Id
        (Get-DbBackup -Policy $policy -After $full.StartTime.ToLocalTime() -Type Incremental -Last 1).Id | Should -Be $inc2.Id
    }

    It 'lists failed attempts from the journal with -Status Failed' {
        $f = Get-DbBackup -Policy $policy -Status Failed
        $f.Id | Should -Be $failed.Id
        $f.Error | Should -Match 'Access denied'
        @(Get-DbBackup -Policy $policy -Status Succeeded, Failed).Count | Should -Be 4
    }

    It 'shows a table with target, type, status, time, duration and human size by default' {
        $text = Get-DbBackup -Policy $policy | Out-String -Width 200
        $text | Should -Match 'Target\s+Type\s+Status\s+StartTime \(UTC\)\s+Duration\s+Size'
        # Numbers in the reader's culture (0.3 s here, 0,3 s under de-DE): the view formats as PowerShell does.
        $text | Should -Match 'main-db\s+full\s+Succeeded\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+[.,]\d s\s+[\d.,]+ (KB|MB)'
    }

    It 'completes -Target from the policy' {
        $line = "Get-DbBackup -Policy '$policy' -Target ma"
        (TabExpansion2 $line $line.Length).CompletionMatches.CompletionText | Should -Be 'main-db'
    }
}
