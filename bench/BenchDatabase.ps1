# Dot-sourced by the bench scripts: a throwaway mariadbd (the test fixture's) and data for it.

function Start-BenchServer([string] $Root, [string] $Work) {
    $testServers = "$Root/output/obj/testservers/BackupTools.TestServers.dll"
    if (-not (Test-Path $testServers)) {
        dotnet build "$Root/tests/BackupTools.TestServers" -c Release -o "$Root/output/obj/testservers" --nologo -v quiet -clp:ErrorsOnly
    }
    Add-Type -Path $testServers
    [BackupTools.TestServers.MariaDbServer]::Start("$Work/mariadb")
}

<#
Loads $SizeGB of 1 KB rows of hex text (zstd halves it, like most application data) into bench.t, without binary
logging: the load is not what is measured. Returns the size of the data directory in bytes.
#>
function Add-BenchRows($Server, [double] $SizeGB) {
    $rows = [int]($SizeGB * 1GB / 1024)
    Write-Host "Loading $rows rows of 1 KB (about $SizeGB GB) ..."
    $Server.Sql('CREATE DATABASE IF NOT EXISTS bench; CREATE TABLE IF NOT EXISTS bench.t (id INT PRIMARY KEY, v VARCHAR(1024)) ENGINE=InnoDB;') | Out-Null
    $batch = 100000
    for ($from = 1; $from -le $rows; $from += $batch) {
        $to = [math]::Min($rows, $from + $batch - 1)
        $Server.Sql("USE bench; SET SESSION sql_log_bin = 0; INSERT INTO bench.t SELECT seq, CONCAT(SHA2(RAND(),512), SHA2(RAND(),512), SHA2(RAND(),512), SHA2(RAND(),512), SHA2(RAND(),512), SHA2(RAND(),512), SHA2(RAND(),512), SHA2(RAND(),512)) FROM seq_${from}_to_${to};") | Out-Null
    }
    $Server.Sql('FLUSH TABLES;') | Out-Null
    $bytes = (Get-ChildItem $Server.DataDirectory -Recurse -File | Measure-Object Length -Sum).Sum
    Write-Host ("Data directory: {0:0.00} GB" -f ($bytes / 1GB))
    $bytes
}

function Write-BenchPolicy([string] $Work, $Server, [string] $Compression = 'zstd', [int] $Level = 3) {
    $env:BENCH_DB_PASSWORD = $Server.BackupPassword
    $p = Join-Path $Work "policy-$Compression.yml"
    @"
repository: $Work/repo
targets:
  db:
    engine: mariadb
    socket: $($Server.Socket)
    user: backup
    passwordEnv: BENCH_DB_PASSWORD
    dataDir: $($Server.DataDirectory)
storage: { compression: $Compression, compressionLevel: $Level, compressionThreads: 0 }
"@ | Set-Content $p
    $p
}
