<#
.SYNOPSIS
    Catalog speed: Get-BackupRepository (which lists every set by reading its manifest) against the raw tools
    reading the same manifests (find + cat), on 10 000 sets, in one run; medians of several runs into docs/benchmarks.md.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Build; dotnet pwsh ./bench/Catalog.Bench.ps1
#>
param([int] $Sets = 10000, [int] $Runs = 7)
$ErrorActionPreference = 'Stop'
. $PSScriptRoot/BenchTable.ps1
$root = Split-Path $PSScriptRoot
$version = (Import-PowerShellDataFile "$root/module/BackupTools.psd1").ModuleVersion
Import-Module "$root/output/BackupTools/$version/BackupTools.psd1"

$work = Join-Path ([IO.Path]::GetTempPath()) ("bt-bench-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$repo = Join-Path $work 'repo'
try {
    $start = [datetime]::new(2026, 1, 1, 0, 0, 0, [DateTimeKind]::Utc)
    for ($i = 0; $i -lt $Sets; $i++) {
        $t = $start.AddMinutes(15 * $i)
        $id = '{0:yyyyMMddTHHmmssZ}-{1:x8}' -f $t, $i
        $type = if ($i % 3 -eq 0) { 'full' } else { 'binlog' }
        $dir = [IO.Directory]::CreateDirectory("$repo/mariadb/db$($i % 4)/$type/$id").FullName
        [IO.File]::WriteAllText("$dir/manifest.json", (@{
            schema = 'https://backuptools/schemas/manifest'; schemaVersion = 1; id = $id; engine = 'mariadb'; target = "db$($i % 4)"; type = $type
            startTime = $t.ToString('o'); endTime = $t.AddMinutes(1).ToString('o'); rawBytes = $i; storedBytes = $i
            files = @(@{ name = 'backup.mbstream.zst'; rawBytes = $i; storedBytes = $i; compression = 'zstd'; sha256 = ('0' * 64); rawSha256 = ('0' * 64) })
        } | ConvertTo-Json -Depth 4))
    }
    $policy = Join-Path $work 'policy.yml'
    "repository: $repo`ntargets: {}" | Set-Content $policy

    function Measure-Median([scriptblock] $Block) {
        & $Block | Out-Null # warm-up
        $times = foreach ($r in 1..$Runs) { (Measure-Command { & $Block | Out-Null }).TotalMilliseconds }
        ($times | Sort-Object)[[math]::Floor($Runs / 2)]
    }
    $ours = Measure-Median { (Get-BackupRepository -Policy $policy).BackupSets }
    $raw = Measure-Median { bash -c "find '$repo' -name manifest.json -exec cat {} + | wc -c" }
    $count = (Get-BackupRepository -Policy $policy).BackupSets
    if ($count -ne $Sets) { throw "Listed $count sets, expected $Sets." }

    $line = "| catalog: list $Sets backup sets (median of $Runs) | Get-BackupRepository | $([math]::Round($ours)) ms | find + cat of the manifests | $([math]::Round($raw)) ms | $([math]::Round($ours / $raw, 2)) |"
    Write-Host $line
    Set-BenchmarkRows -Root $root -Prefix 'catalog:' -Lines $line
}
finally { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
