BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Send-BackupAlert' {
    BeforeAll {
        $recorder = [BackupTools.TestServers.HttpRecorder]::Start()
        $env:BT_TEST_PESTER_SLACK = "$($recorder.Url)/slack/hook"
    }
    AfterAll { $recorder.Dispose() }

    BeforeEach {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        # The test policy names no routes: the defaults keep the channels configured here (slack; webhook is on no default route).
        (Get-Content $policy -Raw) -replace 'channels: \{\}', "channels: { slack: { webhookUrlEnv: BT_TEST_PESTER_SLACK }, webhook: { url: '$($recorder.Url)/hook' } }" |
            Set-Content $policy
        while ($recorder.Requests.TryDequeue([ref]$null)) { }
    }

    It 'takes a failed Start-DbBackup from the pipeline and posts it to Slack with @channel' {
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $out = Start-DbBackup main-db -Policy $policy -Credential $cred -ErrorAction SilentlyContinue |
            Send-BackupAlert -Channel slack -ErrorAction SilentlyContinue
        $out | Should -BeOfType ([BackupTools.Model.AlertDelivery])
        $out.Status | Should -Be 'Sent'
        $out.Severity | Should -Be 'Critical'
        $req = @($recorder.Requests)
        $req.Count | Should -Be 1
        $req[0].Path | Should -Be '/slack/hook'
        ($req[0].Body | ConvertFrom-Json).text | Should -Match '^<!channel> :rotating_light: \*CRITICAL\* \*main-db full backup failed\*'
    }

    It 'refuses a route naming a channel nobody configured, and passes over what is fine' {
        $unreachable = Join-Path $dir 'unreachable.yml'
        (Get-Content $policy -Raw) -replace '(?m)^  channels:', "  routes: { critical: [phone, slack], warning: [slack] }`n  channels:" | Set-Content $unreachable
        Test-BackupPolicy -Policy $unreachable -ErrorAction SilentlyContinue -ErrorVariable problems | Should -BeFalse
        "$problems" | Should -Match "alerts.routes.critical: 'phone' has no settings under alerts.channels.phone, so nobody would receive these alerts"
        # Without routes, the defaults keep only the configured channels: a failure goes to Slack, and no error.
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $failed = Start-DbBackup main-db -Policy $policy -Credential $cred -ErrorAction SilentlyContinue
        $out = $failed | Send-BackupAlert -ErrorVariable err
        $out.Channel | Should -Be 'slack'
        $out.Status | Should -Be 'Sent'
        $err | Should -BeNullOrEmpty
        # The cache has never been backed up: a Warning, routed to slack, so -Channel webhook selects nothing.
        Get-BackupStatus -Policy $policy -Target cache | Where-Object { $_ -is [BackupTools.Model.BackupStatus] } |
            Send-BackupAlert -Channel webhook -Policy $policy | Should -BeNullOrEmpty
        Start-DbBackup main-db Binlog -Policy $policy | Send-BackupAlert | Should -BeNullOrEmpty -Because 'a success with nothing to resolve is passed over'
        $recorder.Requests.Where({ $_.Path -eq '/hook' }).Count | Should -Be 0
    }

    It 'is an error (so a scheduled job fails) when an alert has no channel at all to go to' {
        $silent = Join-Path $dir 'silent.yml'
        (Get-Content $policy -Raw) -replace '(?m)^  channels:.*$', '  channels: {}' | Set-Content $silent
        $null = Test-BackupPolicy -Policy $silent -WarningVariable warned 3>$null
        "$warned" | Should -Match 'no alert channel is configured for Critical or Warning alerts'
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $null = Start-DbBackup main-db -Policy $silent -Credential $cred -ErrorAction SilentlyContinue | Send-BackupAlert -ErrorAction SilentlyContinue -ErrorVariable lost
        $lost.FullyQualifiedErrorId | Should -Contain 'AlertNoChannel,BackupTools.Commands.SendBackupAlertCommand'
        "$lost" | Should -Match 'has no channel to go to.*Nobody was told'
        { Send-BackupAlert -Test -Policy $silent -ErrorAction Stop } | Should -Throw -ErrorId 'AlertNoChannel,BackupTools.Commands.SendBackupAlertCommand'
    }

    It '-Test sends a marked test message through every configured channel, whatever the routes' {
        $out = Send-BackupAlert -Test -Policy $policy
        $out.Channel | Sort-Object | Should -Be @('slack', 'webhook')
        $out.Status | Sort-Object -Unique | Should -Be 'Sent'
        $bodies = @($recorder.Requests).Body -join "`n"
        $bodies | Should -Match 'TEST from BackupTools on \S+: please ignore'
        @($recorder.Requests).Count | Should -Be 2
        (Send-BackupAlert -Test -Policy $policy).Status | Sort-Object -Unique | Should -Be 'Sent' -Because 'a test is never deduplicated'
    }

    It '-WhatIf sends nothing, and the next real run still sends' {
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $failed = Start-DbBackup main-db -Policy $policy -Credential $cred -ErrorAction SilentlyContinue
        ($failed | Send-BackupAlert -Channel slack -WhatIf).Status | Should -Be 'WouldSend'
        $recorder.Requests.Count | Should -Be 0
        ($failed | Send-BackupAlert -Channel slack).Status | Should -Be 'Sent'
        ($failed | Send-BackupAlert -Channel slack).Status | Should -Be 'Suppressed'
    }
}
