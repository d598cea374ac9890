<#
.SYNOPSIS
    AI model backup speed: Backup-AiModel's first version against cp -r + sha256sum of every file (goal: 0.7 or less,
    since we copy and hash in one pass), and the second version (one changed file) against restic 0.14 on the same data
    (goal: faster than restic; stored growth = the changed file). Runs alternate; medians into docs/benchmarks.md.
.DESCRIPTION
    Needs restic (Debian package 'restic'). The model is -SizeMB of files: one large weights file, a few shards and a
    tokenizer, random bytes (model weights do not compress).
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Build; dotnet pwsh ./bench/AiModel.Bench.ps1
#>
param([int] $SizeMB = 1024, [int] $Runs = 5)
$ErrorActionPreference = 'Stop'
. $PSScriptRoot/BenchTable.ps1
$root = Split-Path $PSScriptRoot
$version = (Import-PowerShellDataFile "$root/module/BackupTools.psd1").ModuleVersion
Import-Module "$root/output/BackupTools/$version/BackupTools.psd1"
if (-not (Get-Command restic -ErrorAction SilentlyContinue)) { throw "restic is not installed (apt-get install restic)." }

$work = Join-Path ([IO.Path]::GetTempPath()) ("bt-bench-model-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
try {
    $model = Join-Path $work 'model'
    New-Item -ItemType Directory "$model/shards", "$model/tokenizer" | Out-Null
    bash -c "head -c $([int]($SizeMB * 0.7))M /dev/urandom > '$model/weights.safetensors'"
    foreach ($i in 1..3) { bash -c "head -c $([int]($SizeMB * 0.1))M /dev/urandom > '$model/shards/shard-$i.bin'" }
    bash -c "head -c 2M /dev/urandom > '$model/tokenizer/vocab.bin'"
    '{ "version": "1" }' | Set-Content "$model/config.json"
    $bytes = (Get-ChildItem $model -Recurse -File | Measure-Object Length -Sum).Sum

    $policy = Join-Path $work 'policy.yml'
    "repository: $work/repo`ntargets: {}" | Set-Content $policy
    $env:RESTIC_PASSWORD = 'bench-only'

    function Invoke-OursFirst([int] $Run) {
        Remove-Item "$work/repo" -Recurse -Force -ErrorAction Ignore
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $r = Backup-AiModel -Name m -Path $model -Version "v$Run" -Policy $policy -ProgressAction SilentlyContinue
        $s = $clock.Elapsed.TotalSeconds
        if ($r.Status -ne 'Succeeded') { throw "Backup-AiModel: $($r.Error)" }
        $s
    }
    function Invoke-CopyAndHash {
        Remove-Item "$work/cp" -Recurse -Force -ErrorAction Ignore
        $clock = [Diagnostics.Stopwatch]::StartNew()
        bash -c "cp -r '$model' '$work/cp' && sync '$work/cp' && find '$work/cp' -type f -exec sha256sum {} + > /dev/null"
        $clock.Elapsed.TotalSeconds
    }
    $first = @(); $cp = @()
    $null = Invoke-OursFirst 0; $null = Invoke-CopyAndHash # warm-up
    for ($i = 1; $i -le $Runs; $i++) { $first += Invoke-OursFirst $i; $cp += Invoke-CopyAndHash; Write-Host ("  first version run {0}: ours {1:0.00} s, cp+sha256sum {2:0.00} s" -f $i, $first[-1], $cp[-1]) }

    # Second version: one shard changes. Both start from a repository holding the first version.
    function Reset-Shard([int] $Seed) { bash -c "head -c $([int]($SizeMB * 0.1))M /dev/urandom > '$model/shards/shard-2.bin'" }
    $second = @(); $restic = @(); $oursGrowth = 0; $resticGrowth = 0
    for ($i = 1; $i -le $Runs; $i++) {
        Remove-Item "$work/repo", "$work/restic" -Recurse -Force -ErrorAction Ignore
        $null = Backup-AiModel -Name m -Path $model -Version "base" -Policy $policy -ProgressAction SilentlyContinue
        bash -c "restic init -q -r '$work/restic' && restic backup -q -r '$work/restic' '$model' > /dev/null"
        Reset-Shard $i
        $before = (Get-ChildItem "$work/repo" -Recurse -File | Measure-Object Length -Sum).Sum
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $r = Backup-AiModel -Name m -Path $model -Version "next$i" -Policy $policy -ProgressAction SilentlyContinue
        $second += $clock.Elapsed.TotalSeconds
        $oursGrowth = (Get-ChildItem "$work/repo" -Recurse -File | Measure-Object Length -Sum).Sum - $before
        $rBefore = (Get-ChildItem "$work/restic" -Recurse -File | Measure-Object Length -Sum).Sum
        $clock = [Diagnostics.Stopwatch]::StartNew()
        bash -c "restic backup -q -r '$work/restic' '$model' > /dev/null"
        $restic += $clock.Elapsed.TotalSeconds
        $resticGrowth = (Get-ChildItem "$work/restic" -Recurse -File | Measure-Object Length -Sum).Sum - $rBefore
        Write-Host ("  second version run {0}: ours {1:0.00} s (+{2:0} MB), restic {3:0.00} s (+{4:0} MB)" -f $i, $second[-1], ($oursGrowth / 1MB), $restic[-1], ($resticGrowth / 1MB))
    }
    $size = '{0:0.0} GB' -f ($bytes / 1GB)
    $f = Measure-Stats $first; $c = Measure-Stats $cp; $s2 = Measure-Stats $second; $rs = Measure-Stats $restic
    $lines = @(
        "| models: first version of a $size model, 6 files ($Runs runs) | Backup-AiModel | $(Format-Seconds $f) | cp -r + sync + sha256sum of every file | $(Format-Seconds $c) | $('{0:0.00}' -f ($f.Median / $c.Median)) |"
        "| models: second version, one $([int]($SizeMB * 0.1)) MB shard changed ($Runs runs; stored growth ours $('{0:0}' -f ($oursGrowth / 1MB)) MB, restic $('{0:0}' -f ($resticGrowth / 1MB)) MB) | Backup-AiModel | $(Format-Seconds $s2) | restic 0.14 backup | $(Format-Seconds $rs) | $('{0:0.00}' -f ($s2.Median / $rs.Median)) |"
    )
    $lines | ForEach-Object { Write-Host $_ }
    Set-BenchmarkRows -Root $root -Prefix 'models:' -Lines $lines
}
finally { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
