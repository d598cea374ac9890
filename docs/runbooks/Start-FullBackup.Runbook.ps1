<#
.SYNOPSIS
    Azure Automation runbook (PowerShell 7.4 runtime): a full backup of one target, piped into the alerts.
.DESCRIPTION
    Runs on a Hybrid Runbook Worker that can reach the database and the repository (a cloud job cannot reach a
    database in your network, and Azure's fair share stops a cloud job after 3 hours).
    Secrets come from Automation assets, never from the runbook or the policy:
      - credential asset 'BackupDbLogin' (the database login),
      - variable asset 'BackupPolicyPath' (the policy file on the worker, e.g. /etc/backuptools/policy.yml).
    Output: the module's BackupRecord and AlertDelivery objects, so the job's output stream shows what happened.
#>
param(
    [Parameter(Mandatory)][string] $Target,
    [ValidateSet('Full', 'Incremental', 'Binlog', 'Snapshot')][string] $Type = 'Full'
)
$ErrorActionPreference = 'Continue'
Import-Module BackupTools
$policy = Get-AutomationVariable -Name 'BackupPolicyPath'
$login = Get-AutomationPSCredential -Name 'BackupDbLogin'
$records = Start-DbBackup -Target $Target -Type $Type -Credential $login -SkipIfBusy -Policy $policy
$records
$records | Send-BackupAlert -Policy $policy
if ($records | Where-Object Status -eq 'Failed') { throw "The $Type backup of $Target failed: $(($records | Where-Object Status -eq 'Failed').Error -join '; ')" }
