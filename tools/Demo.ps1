<#
.SYNOPSIS
    A sysadmin's day with BackupTools on throwaway servers: what build.ps1 -Task Demo runs.
.DESCRIPTION
    Starts a real mariadbd and redis-server on free loopback ports under a temp directory, writes a policy for them,
    walks through the public cmdlets printing what a person would look at, and stops what it started.
    Each feature that lands extends this walk with its own cmdlets.
#>
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [Parameter(Mandatory)][string] $TestServersAssembly
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Add-Type -Path $TestServersAssembly
Import-Module $ModulePath

function Step([string] $Title) { Write-Host "`n=== $Title ===" }
function Show { $input | Out-String -Width 150 | Write-Host }

$work = Join-Path ([IO.Path]::GetTempPath()) ("backuptools-demo-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory $work | Out-Null
$maria = $redis = $null
try {
    Step 'Start throwaway servers (mariadbd with binary log in ROW format, redis-server)'
    $maria = [BackupTools.TestServers.MariaDbServer]::Start("$work/mariadb")
    $redis = [BackupTools.TestServers.RedisServer]::Start("$work/redis")
    Write-Host "mariadbd pid $($maria.ProcessId) on 127.0.0.1:$($maria.Port); redis-server pid $($redis.ProcessId) on 127.0.0.1:$($redis.Port); under $work"

    Step 'Write a policy: the password comes from an environment variable, never from the file'
    $env:DEMO_DB_PASSWORD = $maria.BackupPassword
    $policy = Join-Path $work 'policy.yml'
    @"
repository: $work/repo
targets:
  main-db:
    engine: mariadb
    socket: $($maria.Socket)
    user: backup
    passwordEnv: DEMO_DB_PASSWORD
    dataDir: $($maria.DataDirectory)
    schedule: { full: "0 2 * * *", incremental: "0 */6 * * *", binlog: "*/15 * * * *" }
    retention: { full: 30d, incremental: 7d, binlog: 14d }
  cache:
    engine: redis
    host: 127.0.0.1
    port: $($redis.Port)
    schedule: { snapshot: "0 * * * *" }
    retention: { snapshot: 7d }
models:
  llm-main: { path: $work/models/llm-main, keep: 5 }
config:
  paths: [/etc/hostname]
storage: { warningFreePercent: 20, criticalFreePercent: 10 }
alerts:
  delayGrace: 1h
  routes: { critical: [phone, sms, slack], warning: [slack, email] }
"@ | Set-Content $policy
    $env:BACKUPTOOLS_POLICY = $policy
    Write-Host "`$env:BACKUPTOOLS_POLICY = $policy"

    Step 'Test-BackupPolicy'
    Test-BackupPolicy | Show

    Step 'Get-BackupPolicy'
    Get-BackupPolicy | Show
    (Get-BackupPolicy).Targets | Format-Table | Show

    Step 'A typo in a copy of the policy: every problem, with its line and column'
    $typo = Join-Path $work 'typo.yml'
    (Get-Content $policy -Raw) -replace 'retention: \{ full: 30d', 'retension: { full: 30 days' -replace 'port: ', 'prot: ' | Set-Content $typo
    Test-BackupPolicy -Policy $typo -ErrorAction SilentlyContinue -ErrorVariable problems | Out-Null
    $problems | ForEach-Object { Write-Host "  $_" }

    Step 'Test-BackupTarget: can we reach and log in to every target?'
    Test-BackupTarget | Format-Table | Show

    Step 'Initialize-BackupRepository'
    Initialize-BackupRepository | Show

    Step 'Status: the repository is empty; backups arrive with Start-DbBackup'
    Get-BackupRepository | Show
}
finally {
    Step 'Stop what the demo started'
    if ($redis) { $redis.Dispose(); Write-Host "redis-server stopped" }
    if ($maria) { $maria.Dispose(); Write-Host "mariadbd stopped" }
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
