<#
.SYNOPSIS
    Azure Automation runbook (PowerShell 7.4 runtime): copies every published backup set, model version and the config
    history not yet offsite to Azure Blob Storage, signing in with the Automation account's managed identity.
.DESCRIPTION
    Runs on a Hybrid Runbook Worker that sees the repository. The policy's offsite entry names the account URL and no
    secret, so Azure's default credential chain signs in; on an Automation account that is its managed identity (give
    it the Storage Blob Data Contributor role on the container):

        offsite:
          azure: { kind: azureBlob, accountUrl: https://mybackups.blob.core.windows.net, container: backups }
        encryption: { keyEnv: BACKUP_ENCRYPTION_KEY }

    On a Hybrid worker the identity comes from the worker's Azure Arc or VM managed identity (AZURE_CLIENT_ID names a
    user-assigned one). The encryption key is an encrypted Automation variable put into the environment variable the
    policy names for the length of the call only. Outputs one OffsiteCopyResult per set; a failed copy is an error,
    so the job shows as failed, and Send-BackupAlert raises it as Critical.
#>
$ErrorActionPreference = 'Continue'
Import-Module BackupTools
$policy = Get-AutomationVariable -Name 'BackupPolicyPath'
$env:BACKUP_ENCRYPTION_KEY = Get-AutomationVariable -Name 'BackupEncryptionKey'   # the key file's base64 line
try {
    Copy-BackupSet -Offsite azure -Policy $policy | Send-BackupAlert -Policy $policy
    Remove-ExpiredBackup -Offsite azure -Policy $policy -Confirm:$false
}
finally {
    Remove-Item Env:BACKUP_ENCRYPTION_KEY -ErrorAction Ignore
}
