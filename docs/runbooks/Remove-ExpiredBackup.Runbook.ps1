<#
.SYNOPSIS
    Azure Automation runbook (PowerShell 7.4 runtime): applies the policy's retention once a day.
.DESCRIPTION
    Runs on a Hybrid Runbook Worker that sees the repository. Outputs one RetentionDecision per removed backup; a
    target busy with a backup or a restore is skipped with a warning and retried on the next run. Elasticsearch
    snapshots are deleted in the cluster too, so the worker must reach it (the policy's url; its API key from an
    Automation variable, as below).
#>
$ErrorActionPreference = 'Continue'
Import-Module BackupTools
$policy = Get-AutomationVariable -Name 'BackupPolicyPath'
$env:BACKUP_ES_API_KEY = Get-AutomationVariable -Name 'BackupEsApiKey'   # the policy: passwordEnv: BACKUP_ES_API_KEY
try {
    Remove-ExpiredBackup -Policy $policy -Confirm:$false
}
finally {
    Remove-Item Env:BACKUP_ES_API_KEY -ErrorAction Ignore
}
