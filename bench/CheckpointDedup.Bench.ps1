<#
.SYNOPSIS
    What chunking large model files saves: the bytes the next version of a sharded checkpoint adds to the repository,
    ours (fixed 4 MB chunks) against restic 0.14 (content-defined chunks of about 1 MB), on the same data in the same
    run. Rows into docs/benchmarks.md.
.DESCRIPTION
    A checkpoint of -Shards safetensors-like files, each a small header and -Tensors tensors of 8 MB of random bytes.
    The next version changes -ChangedPercent of the tensors in place (the same offsets and sizes: a fine-tune with most
    layers frozen, an adapter merged into a few of them), then every tensor (a full fine-tune). Needs restic.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Build; dotnet pwsh ./bench/CheckpointDedup.Bench.ps1
#>
param([int] $Shards = 4, [int] $Tensors = 16, [int] $ChangedPercent = 10)
$ErrorActionPreference = 'Stop'
. $PSScriptRoot/BenchTable.ps1
$root = Split-Path $PSScriptRoot
$version = (Import-PowerShellDataFile "$root/module/BackupTools.psd1").ModuleVersion
Import-Module "$root/output/BackupTools/$version/BackupTools.psd1"
if (-not (Get-Command restic -ErrorAction SilentlyContinue)) { throw "restic is not installed (apt-get install restic)." }

$work = Join-Path ([IO.Path]::GetTempPath()) ("bt-bench-ckpt-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
try {
    $model = Join-Path $work 'model'
    New-Item -ItemType Directory $model | Out-Null
    $tensor = 8MB
    $random = [Random]::new(3)
    $buffer = [byte[]]::new($tensor)
    function Write-Tensor([string] $Path, [int] $Index) {
        $random.NextBytes($buffer)
        $f = [IO.File]::Open($Path, 'OpenOrCreate', 'Write')
        try { $f.Position = 4096 + [long]$Index * $tensor; $f.Write($buffer, 0, $tensor) } finally { $f.Dispose() }
    }
    foreach ($s in 1..$Shards) {
        $path = Join-Path $model ('model-{0:D5}-of-{1:D5}.safetensors' -f $s, $Shards)
        [IO.File]::WriteAllBytes($path, [byte[]]::new(4096)) # the header (tensor names and offsets), unchanged between versions
        foreach ($t in 0..($Tensors - 1)) { Write-Tensor $path $t }
    }
    $policy = Join-Path $work 'policy.yml'
    "repository: $work/repo`ntargets: {}" | Set-Content $policy
    $env:RESTIC_PASSWORD = 'bench-only'
    bash -c "restic init -q -r '$work/restic' > /dev/null"
    $size = { param($d) (Get-ChildItem $d -Recurse -File | Measure-Object Length -Sum).Sum }
    $r = Backup-AiModel -Name ckpt -Path $model -Version 1 -Policy $policy -ProgressAction SilentlyContinue
    if ($r.Status -ne 'Succeeded') { throw "Backup-AiModel: $($r.Error)" }
    bash -c "restic backup -q -r '$work/restic' '$model' > /dev/null"
    $total = $Shards * ($Tensors * $tensor + 4096)
    $lines = @()
    $step = 2
    foreach ($case in @(
            @{ Name = "$ChangedPercent % of the tensors changed in place"; Count = [math]::Max(1, [int]($Shards * $Tensors * $ChangedPercent / 100)) },
            @{ Name = 'every tensor changed (a full fine-tune)'; Count = $Shards * $Tensors })) {
        $oursBefore = & $size "$work/repo/models"; $resticBefore = & $size "$work/restic"
        # The changed tensors spread over the shards, as frozen and trained layers are.
        $picked = 0..($Shards * $Tensors - 1) | Get-Random -Count $case.Count -SetSeed $step
        foreach ($i in $picked) {
            Write-Tensor (Join-Path $model ('model-{0:D5}-of-{1:D5}.safetensors' -f ([int][math]::Floor($i / $Tensors) + 1), $Shards)) ($i % $Tensors)
        }
        $r = Backup-AiModel -Name ckpt -Path $model -Version $step -Policy $policy -ProgressAction SilentlyContinue
        if ($r.Status -ne 'Succeeded') { throw "Backup-AiModel: $($r.Error)" }
        bash -c "restic backup -q -r '$work/restic' '$model' > /dev/null"
        $ours = (& $size "$work/repo/models") - $oursBefore; $restic = (& $size "$work/restic") - $resticBefore
        $changedMb = $case.Count * $tensor / 1MB
        $lines += "| models: bytes the next version of a $('{0:0}' -f ($total / 1MB)) MB checkpoint in $Shards shards adds, $($case.Name) ($changedMb MB of tensors) | Backup-AiModel (4 MB chunks) | $('{0:0}' -f ($ours / 1MB)) MB | restic 0.14 (content-defined chunks) | $('{0:0}' -f ($restic / 1MB)) MB | $('{0:0.00}' -f ($ours / $restic)) |"
        $step++
    }
    $lines | ForEach-Object { Write-Host $_ }
    Set-BenchmarkRows -Root $root -Prefix 'models: bytes the next version' -Lines $lines
}
finally { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
