<#
.SYNOPSIS
    Azure Automation runbook (PowerShell 7.4 runtime): backup status of every target and the repository's storage,
    piped into the alerts. Schedule it every 15 minutes so a backup that is late is noticed.
.DESCRIPTION
    Runs on a Hybrid Runbook Worker that sees the repository. Channel secrets (Slack webhook, Twilio token, SMTP
    password) are read by the module from the environment variables or files the policy names; on the worker, set them
    from Automation variables before calling (example below for Slack).
#>
$ErrorActionPreference = 'Continue'
Import-Module BackupTools
$policy = Get-AutomationVariable -Name 'BackupPolicyPath'
# The policy names alerts.channels.slack.webhookUrlEnv: BACKUP_SLACK_WEBHOOK; the value is an encrypted variable asset.
$env:BACKUP_SLACK_WEBHOOK = Get-AutomationVariable -Name 'BackupSlackWebhook'
try {
    $status = Get-BackupStatus -Policy $policy
    $status
    $status | Send-BackupAlert -Policy $policy
}
finally {
    Remove-Item Env:BACKUP_SLACK_WEBHOOK -ErrorAction Ignore
}
