<#
.SYNOPSIS
    Runs the Pester suite against the built module with real servers started once for the run; writes the counts as JSON.
.DESCRIPTION
    Called by build.ps1 -Task Test in a child pwsh. The servers come from the shared fixture assembly
    (tests/BackupTools.TestServers), the same one the xunit suite uses. If they cannot start (a server program is
    missing), the run counts as failed with the reason: it never passes without them.
#>
param(
    [Parameter(Mandatory)][string] $PesterPath,
    [Parameter(Mandatory)][string] $ResultPath,
    [Parameter(Mandatory)][string] $TestServersAssembly
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Import-Module $PesterPath
Add-Type -Path $TestServersAssembly

$counts = @{ Passed = 0; Failed = 0; Skipped = 0; Total = 0 }
try {
    $global:BackupToolsTestServers = [BackupTools.TestServers.TestServerSet]::Start()
}
catch {
    Write-Host "Pester suite cannot start its servers: $($_.Exception.GetBaseException().Message)" -ForegroundColor Red
    $counts.Failed = 1
    $counts | ConvertTo-Json | Set-Content $ResultPath
    exit 1
}
try {
    # The policies the tests write take the MariaDB password from this variable, as production policies do.
    $env:BT_TEST_DB_PASSWORD = $global:BackupToolsTestServers.MariaDb.BackupPassword
    $config = New-PesterConfiguration
    $config.Run.Path = Join-Path $PSScriptRoot 'Pester'
    $config.Run.PassThru = $true
    $config.Output.Verbosity = 'Detailed'
    $result = Invoke-Pester -Configuration $config
    $counts.Passed = $result.PassedCount
    $counts.Failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
    $counts.Skipped = $result.SkippedCount + $result.NotRunCount
    $counts.Total = $result.TotalCount
}
finally {
    $global:BackupToolsTestServers.Dispose()
    $counts | ConvertTo-Json | Set-Content $ResultPath
}
