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

# Runs $Command (the module imported) in a child pwsh, waits until a file in $TempDirectory grows past $Bytes (the
# work is mid-write), then kills the child with SIGKILL, as a crash or the OOM killer would. Returns whether the child
# was still running when killed: a test asserts it, so one that finished first fails instead of proving nothing.
function Stop-ChildMidWrite([string] $Command, [string] $TempDirectory, [long] $Bytes) {
    $psi = [Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
    foreach ($a in @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command',
            "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; $Command")) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $child = [Diagnostics.Process]::Start($psi)
    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    while ([DateTime]::UtcNow -lt $deadline -and -not $child.HasExited -and
           -not (Get-ChildItem $TempDirectory -File -ErrorAction Ignore | Where-Object Length -gt $Bytes)) {
        Start-Sleep -Milliseconds 2
    }
    $running = -not $child.HasExited
    kill -9 $child.Id 2>$null
    $child.WaitForExit()
    $running
}
