# Dot-sourced by every Pester file: imports the built module and gives each test a policy for the run's servers.
$ErrorActionPreference = 'Stop'
$script:ModulePath = $env:BACKUPTOOLS_TEST_MODULE
if (-not $script:ModulePath -or -not (Test-Path $script:ModulePath)) {
    throw "BACKUPTOOLS_TEST_MODULE must point at the built BackupTools.psd1 (run: dotnet pwsh ./build.ps1 -Task Test)."
}
Import-Module $script:ModulePath -Force

function New-TestDirectory {
    $path = Join-Path ([IO.Path]::GetTempPath()) ("bt-pester-" + [guid]::NewGuid().ToString('N').Substring(0, 10))
    New-Item -ItemType Directory -Path $path | Out-Null
    $path
}

function New-TestPolicy([string] $Directory = (New-TestDirectory)) {
    $global:BackupToolsTestServers.WritePolicy($Directory, 'BT_TEST_DB_PASSWORD')
}
