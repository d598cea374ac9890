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
        # The test policy routes critical to phone, sms, slack and warning to slack, email; give slack and webhook settings.
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

    It 'passes over what is fine and reports routed channels that have no settings as errors' {
        $cred = [pscredential]::new('backup', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
        $failed = Start-DbBackup main-db -Policy $policy -Credential $cred -ErrorAction SilentlyContinue
        $out = $failed | Send-BackupAlert -ErrorAction SilentlyContinue -ErrorVariable err
        ($out | Where-Object Channel -eq 'slack').Status | Should -Be 'Sent'
        ($out | Where-Object Channel -eq 'phone').Status | Should -Be 'Failed'
        $err.FullyQualifiedErrorId | Should -Contain 'AlertNotDelivered,BackupTools.Commands.SendBackupAlertCommand'
        ($err | Select-Object -First 1).Exception.Message | Should -Match 'no alerts.channels.(phone|sms) settings'
        # The cache has never been backed up: a Warning, routed to slack and email, so -Channel webhook selects nothing.
        Get-BackupStatus -Policy $policy -Target cache | Where-Object { $_ -is [BackupTools.Model.BackupStatus] } |
            Send-BackupAlert -Channel webhook -Policy $policy | Should -BeNullOrEmpty
        Start-DbBackup main-db Binlog -Policy $policy | Send-BackupAlert | Should -BeNullOrEmpty -Because 'a success with nothing to resolve is passed over'
        $recorder.Requests.Where({ $_.Path -eq '/hook' }).Count | Should -Be 0
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
