#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests, packages and demonstrates BackupTools.
.DESCRIPTION
    Tasks:
      Bootstrap  install the server programs the tests and the demo run (apt-get on Debian/Ubuntu as root), and fetch
                 the newer releases the compatibility tests run (Redis 8.0, Valkey 8.0: tools/newer-servers.sh, into
                 $env:NEWER_SERVERS_DIR or output/newer-servers; nothing installed)
      Build      output/BackupTools/<version>/ : the importable module (version read from module/BackupTools.psd1)
      Test       Bootstrap, Build, Package, then the xunit engine suite and the Pester cmdlet suite (which also
                 installs the package); prints "N passed, N failed"
      Docs       the offline help into the built module: docs/en-US/<Cmdlet>.md -> en-US/BackupTools.dll-Help.xml (MAML)
                 and docs/en-US/about_*.md -> en-US/about_*.help.txt (Build does this too)
      Package    output/package/BackupTools.<version>.nupkg for Install-PSResource / Install-Module from a local
                 repository, and BackupTools.zip for an Azure Automation account
      Demo       Bootstrap, Build, then a sysadmin's day on throwaway servers
.EXAMPLE
    dotnet tool restore && dotnet pwsh ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Bootstrap', 'Build', 'Docs', 'Test', 'Package', 'Demo')]
    [string[]] $Task = 'Build',
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText' # logs and CI read this output
Set-StrictMode -Version Latest
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$Root = $PSScriptRoot
$Version = (Import-PowerShellDataFile "$Root/module/BackupTools.psd1").ModuleVersion
$ModuleDir = Join-Path $Root "output/BackupTools/$Version"

# A child pwsh like this one. Run as a dotnet tool, this process is 'dotnet', so start pwsh.dll through it.
function Invoke-ChildPwsh([string[]] $Arguments) {
    & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive @Arguments
}

function Invoke-Native([string] $File, [string[]] $Arguments) {
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "'$File $($Arguments -join ' ')' failed with exit code $LASTEXITCODE." }
}

# Programs the tests and the demo start, with the Debian package that brings each.
$ServerPackages = [ordered]@{
    'mariadbd' = 'mariadb-server'; 'mariabackup' = 'mariadb-backup'; 'mariadb' = 'mariadb-client'
    'redis-server' = 'redis-server'; 'zstd' = 'zstd'; 'crontab' = 'cron'; 'git' = 'git'
    # Azurite, the Azure Blob emulator of the offsite tests, is an npm package (tests/offsite-tools).
    'node' = 'nodejs'; 'npm' = 'npm'
    # promtool checks monitoring/prometheus-rules.yml; headless Chromium renders Get-BackupStatus -Report's page.
    'promtool' = 'prometheus'; 'chromium' = 'chromium'; 'chromedriver' = 'chromium-driver'
}

function Find-Program([string] $Name) {
    # Debian keeps mariadbd in /usr/sbin, which a non-root PATH may lack.
    $found = Get-Command $Name -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($found) { return $found.Source }
    foreach ($dir in '/usr/sbin', '/usr/local/sbin', '/sbin') { if (Test-Path "$dir/$Name") { return "$dir/$Name" } }
    return $null
}

# Where the newer server releases go; the xunit fixture reads the same place (tests/BackupTools.TestServers/NewerServers.cs).
$NewerServersDir = if ($env:NEWER_SERVERS_DIR) { $env:NEWER_SERVERS_DIR } else { Join-Path $Root 'output/newer-servers' }

function Invoke-Bootstrap {
    Install-ServerPackages
    Get-NewerServers
    Install-OffsiteTools
}

# Azurite 3.35.0 (the newest that runs on Node 20) for the offsite tests, pinned by tests/offsite-tools/package-lock.json.
function Install-OffsiteTools {
    $tools = Join-Path $Root 'tests/offsite-tools'
    if (Test-Path (Join-Path $tools 'node_modules/.bin/azurite-blob')) { Write-Host 'Bootstrap: Azurite present.'; return }
    Invoke-Native npm @('ci', '--prefix', $tools, '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel', 'error')
    Write-Host "Bootstrap: Azurite installed in $tools"
}

# Redis 8.0 and Valkey 8.0 (newer than Debian 12 ships) for the tests that prove backups of current releases: unpacked
# from Debian's archive with apt-get download into $NewerServersDir, run through their own loader; idempotent.
function Get-NewerServers {
    $env:NEWER_SERVERS_DIR = $NewerServersDir
    & bash -c 'source "$0" && newer_setup' "$Root/tools/newer-servers.sh"
    if ($LASTEXITCODE -ne 0) {
        throw "Could not fetch the newer server releases into $NewerServersDir (tools/newer-servers.sh: apt-get download from Debian's trixie and bookworm-backports). The tests of Redis 8 and Valkey fail without them."
    }
    Write-Host "Bootstrap: newer server releases in $NewerServersDir"
}

function Install-ServerPackages {
    $missing = @($ServerPackages.Keys | Where-Object { -not (Find-Program $_) } | ForEach-Object { $ServerPackages[$_] } | Select-Object -Unique)
    # The SMTP server of the alert tests is a Python module, not a program on PATH.
    if ($IsLinux -and -not (Test-Path /usr/lib/python3/dist-packages/aiosmtpd)) { $missing += 'python3-aiosmtpd' }
    if ($missing.Count -eq 0) { Write-Host 'Bootstrap: all server programs present.'; return }
    $isDebian = (Test-Path /etc/debian_version) -and (Get-Command apt-get -ErrorAction SilentlyContinue)
    $isRoot = $IsLinux -and ((id -u) -eq '0')
    if (-not ($isDebian -and $isRoot)) {
        throw "Missing: $($missing -join ', '). Install these packages (on Debian/Ubuntu: sudo apt-get install $($missing -join ' ')), then run again."
    }
    Write-Host "Bootstrap: installing $($missing -join ', ')"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    Invoke-Native apt-get @('update', '-qq')
    Invoke-Native apt-get (@('install', '-y', '-qq', '--no-install-recommends') + $missing)
}

function Invoke-Build {
    $staging = Join-Path $Root 'output/obj'
    if (Test-Path $ModuleDir) { Remove-Item $ModuleDir -Recurse -Force }
    New-Item -ItemType Directory -Force -Path $ModuleDir, "$ModuleDir/deps" | Out-Null
    $common = @("-c", $Configuration, "-p:Version=$Version", '--nologo', '-v', 'quiet', '-clp:ErrorsOnly')
    # The engine and its packages (portable: libgit2 for every platform under runtimes/) go to deps/,
    # which only the private load context reads.
    Invoke-Native dotnet (@('publish', "$Root/src/BackupTools.Engine", '-o', "$staging/engine") + $common)
    Invoke-Native dotnet (@('build', "$Root/src/BackupTools", '-o', "$staging/cmdlets") + $common)
    Copy-Item "$staging/engine/*" "$ModuleDir/deps" -Recurse
    Remove-Item "$ModuleDir/deps/BackupTools.Model.*" # Model lives once, beside the cmdlets, in the default context
    Copy-Item "$staging/cmdlets/BackupTools.dll", "$staging/cmdlets/BackupTools.Model.dll" $ModuleDir
    Copy-Item "$Root/module/*" $ModuleDir -Recurse
    Invoke-Docs
    Write-Host "Build: $ModuleDir"
}

# platyPS's New-ExternalHelp where platyPS is installed (it is not served here); else our converter, which reads the
# same platyPS 2.0.0 markdown. The about topics are docs/en-US/about_*.md, turned into about_*.help.txt.
function Invoke-Docs {
    $maml = "$ModuleDir/en-US/BackupTools.dll-Help.xml"
    New-Item -ItemType Directory -Force "$ModuleDir/en-US" | Out-Null
    if (Get-Module -ListAvailable platyPS) {
        Import-Module platyPS
        New-ExternalHelp -Path "$Root/docs/en-US" -OutputPath "$ModuleDir/en-US" -Force | Out-Null
    }
    else {
        & "$Root/tools/Build-Help.ps1" -DocsPath "$Root/docs/en-US" -OutputPath $maml
    }
    & "$Root/tools/Build-AboutTopics.ps1" -DocsPath "$Root/docs/en-US" -OutputPath "$ModuleDir/en-US"
    Write-Host "Docs: $maml and $(@(Get-ChildItem "$ModuleDir/en-US" -Filter 'about_*.help.txt').Count) about topics"
}

function Get-ToolPackages {
    # Pester and the old assemblies for the conflict test come from NuGet (no PowerShell Gallery here).
    Invoke-Native dotnet @('restore', "$Root/tests/tools/tools.csproj", '--nologo', '-v', 'quiet')
    $global = (dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', ''
    return $global.Trim()
}

# The throwaway-server layer shared by the xunit suite, the Pester suite and the demo.
function Build-TestServers {
    Invoke-Native dotnet @('build', "$Root/tests/BackupTools.TestServers", '-c', $Configuration, '-o', "$Root/output/obj/testservers", '--nologo', '-v', 'quiet', '-clp:ErrorsOnly')
}

function Invoke-Test {
    $results = Join-Path $Root 'output/test-results'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    New-Item -ItemType Directory -Force $results | Out-Null
    $packages = Get-ToolPackages

    # Engine suite (xunit): its own fixture starts the servers once for the run.
    & dotnet test "$Root/tests/BackupTools.Tests" -c $Configuration --nologo -v quiet `
        --logger "trx;LogFileName=engine.trx" --results-directory $results
    $trx = [xml](Get-Content (Join-Path $results 'engine.trx') -Raw)
    $c = $trx.TestRun.ResultSummary.Counters
    $xPassed = [int]$c.passed; $xFailed = [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted
    $xSkipped = [int]$c.notExecuted
    if ([int]$c.total -eq 0) { $xFailed++ ; Write-Warning 'The xunit suite ran no tests.' }

    # Cmdlet suite (Pester) in a child pwsh so the build process never loads the module.
    $pester = Join-Path $packages 'pester/6.2.0/tools/Pester.psd1'
    $env:BACKUPTOOLS_TEST_MODULE = "$ModuleDir/BackupTools.psd1"
    $env:BACKUPTOOLS_TEST_PACKAGES = $packages
    $pesterOut = Join-Path $results 'pester.json'
    Build-TestServers
    Invoke-Package # the Pester suite installs the package as a user would
    $env:BACKUPTOOLS_TEST_PACKAGE_DIR = Join-Path $Root 'output/package'
    Invoke-ChildPwsh @('-File', "$Root/tests/Invoke-PesterSuite.ps1", '-PesterPath', $pester, '-ResultPath', $pesterOut,
        '-TestServersAssembly', "$Root/output/obj/testservers/BackupTools.TestServers.dll")
    $p = Get-Content $pesterOut -Raw | ConvertFrom-Json
    if ($p.Total -eq 0) { $p.Failed++ ; Write-Warning 'The Pester suite ran no tests.' }

    $passed = $xPassed + $p.Passed
    $failed = $xFailed + $p.Failed
    $skipped = $xSkipped + $p.Skipped
    Write-Host "xunit: $xPassed passed, $xFailed failed, $xSkipped skipped; Pester: $($p.Passed) passed, $($p.Failed) failed, $($p.Skipped) skipped"
    if ($skipped -gt 0) { Write-Host "$skipped skipped (not counted as passed)" }
    Write-Host "$passed passed, $failed failed"
    if ($failed -gt 0) { exit 1 }
}

function Invoke-Package {
    $repo = Join-Path $Root 'output/package'
    New-Item -ItemType Directory -Force $repo | Out-Null
    Remove-Item "$repo/BackupTools.*.nupkg" -ErrorAction SilentlyContinue
    & "$Root/tools/New-ModulePackage.ps1" -ModuleDirectory $ModuleDir -OutputDirectory $repo
    # Azure Automation imports a zip named like the module with the module's files at its root (docs/runbooks/README.md).
    $zip = Join-Path $repo 'BackupTools.zip'
    Remove-Item $zip -ErrorAction SilentlyContinue
    Compress-Archive -Path (Join-Path $ModuleDir '*') -DestinationPath $zip
    Write-Host "Package: $zip (for an Azure Automation account)"
}

function Invoke-Demo {
    Build-TestServers
    Invoke-ChildPwsh @('-File', "$Root/tools/Demo.ps1", '-ModulePath', "$ModuleDir/BackupTools.psd1",
        '-TestServersAssembly', "$Root/output/obj/testservers/BackupTools.TestServers.dll")
    if ($LASTEXITCODE -ne 0) { throw "The demo failed (exit code $LASTEXITCODE)." }
}

foreach ($t in $Task) {
    switch ($t) {
        'Bootstrap' { Invoke-Bootstrap }
        'Build' { Invoke-Build }
        'Docs' { if (-not (Test-Path "$ModuleDir/BackupTools.psd1")) { Invoke-Build } else { Invoke-Docs } }
        'Test' { Invoke-Bootstrap; Invoke-Build; Invoke-Test }
        'Package' { Invoke-Build; Invoke-Package }
        'Demo' { Invoke-Bootstrap; Invoke-Build; Invoke-Demo }
    }
}
