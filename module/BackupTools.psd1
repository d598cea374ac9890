@{
    RootModule           = 'BackupTools.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5f0c6a9e-2b7d-4c43-9a51-8d3e2f4b7c10'
    Author               = 'BackupTools contributors'
    CompanyName          = 'BackupTools'
    Copyright            = '(c) BackupTools contributors. MIT License.'
    Description          = 'Backs up and restores MariaDB, Redis, Elasticsearch, AI model files and config files, watches the backups and routes alerts.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    # Model types cross into the pipeline; load them in the default context before the cmdlets are analysed.
    RequiredAssemblies   = @('BackupTools.Model.dll')
    FormatsToProcess     = @('BackupTools.Format.ps1xml')
    CmdletsToExport      = @(
        'Get-BackupPolicy'
        'New-BackupEncryptionKey'
        'Update-BackupEncryptionKey'
        'Copy-BackupSet'
        'Test-BackupPolicy'
        'Test-BackupTarget'
        'Initialize-BackupRepository'
        'Get-BackupRepository'
        'Start-DbBackup'
        'Start-BinlogStream'
        'Get-PlatformRestorePlan'
        'Restore-Platform'
        'Test-Platform'
        'Get-DbBackup'
        'Test-DbBackup'
        'Get-DbRestorePlan'
        'Restore-DbToPointInTime'
        'Remove-ExpiredBackup'
        'Get-BackupStatus'
        'Export-BackupMetric'
        'Send-BackupAlert'
        'Send-BackupHeartbeat'
        'Backup-AiModel'
        'Get-AiModelBackup'
        'Test-AiModelBackup'
        'Restore-AiModel'
        'Backup-ConfigFile'
        'Get-ConfigFileHistory'
        'Restore-ConfigFile'
        'Register-BackupSchedule'
        'Get-BackupSchedule'
        'Unregister-BackupSchedule'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('Backup', 'Restore', 'MariaDB', 'Redis', 'Elasticsearch', 'Git', 'Linux')
            LicenseUri   = 'https://opensource.org/licenses/MIT'
            ReleaseNotes = 'See CHANGELOG.md'
        }
    }
}
