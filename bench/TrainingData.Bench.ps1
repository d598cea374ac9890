<#
.SYNOPSIS
    Training data at scale: Backup-AiModel of a tree of many small files (2-30 KB, in 100 directories) against restic 0.14
    on the same data in the same run, runs alternating: the first version, then the next with 0.1 % of the files changed;
    stored bytes and peak memory of both. Medians into docs/benchmarks.md.
.DESCRIPTION
    Needs restic (Debian package 'restic') and /usr/bin/time. The files are random bytes by default (neither side can
    compress them: the comparison is of the work per file); -Content Text writes JSONL rows instead, which both
    compress (restic with zstd, our packs blob by blob when it saves an eighth), so stored bytes compare compression.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Build; dotnet pwsh ./bench/TrainingData.Bench.ps1 -Files 20000 -Runs 3
.EXAMPLE
    dotnet pwsh ./bench/TrainingData.Bench.ps1 -Files 1000000 -MaxKB 2 -PeakOnly   # peak memory alone, a million files
#>
param([int] $Files = 20000, [int] $Runs = 3, [int] $MaxKB = 30, [switch] $PeakOnly, [ValidateSet('Random', 'Text')] [string] $Content = 'Random')
$ErrorActionPreference = 'Stop'
. $PSScriptRoot/BenchTable.ps1
$root = Split-Path $PSScriptRoot
$version = (Import-PowerShellDataFile "$root/module/BackupTools.psd1").ModuleVersion
$modulePath = "$root/output/BackupTools/$version/BackupTools.psd1"
Import-Module $modulePath
if (-not (Get-Command restic -ErrorAction SilentlyContinue)) { throw "restic is not installed (apt-get install restic)." }

$work = Join-Path ([IO.Path]::GetTempPath()) ("bt-bench-train-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
try {
    $data = Join-Path $work 'data'
    # Written by compiled code: a script loop took minutes for 200,000 files, and a million are wanted for the peak.
    Add-Type -TypeDefinition @'
public static class BenchTree
{
    static readonly string[] Words = "the a model token train label score prompt answer question data row value text image class".Split(' ');

    public static long Write(string data, int files, int minBytes, int maxBytes, bool text, System.Collections.Generic.List<string> all)
    {
        var random = new System.Random(42);
        long total = 0;
        for (var i = 0; i < files; i++)
        {
            var dir = System.IO.Path.Combine(data, string.Format("shard{0:D3}", i % 100));
            if (i < 100) System.IO.Directory.CreateDirectory(dir);
            var bytes = new byte[random.Next(minBytes, maxBytes)];
            if (!text) random.NextBytes(bytes);
            else
            {
                // JSONL rows: ids, a label, a few words; compressible as real training text is (about 3:1 with zstd).
                var sb = new System.Text.StringBuilder(bytes.Length + 200);
                while (sb.Length < bytes.Length)
                {
                    sb.Append("{\"id\":").Append(random.Next()).Append(",\"label\":").Append(random.Next(10)).Append(",\"text\":\"");
                    for (var w = random.Next(5, 20); w > 0; w--) sb.Append(Words[random.Next(Words.Length)]).Append(' ');
                    sb.Append("\"}\n");
                }
                System.Text.Encoding.ASCII.GetBytes(sb.ToString(0, bytes.Length), 0, bytes.Length, bytes, 0);
            }
            var path = System.IO.Path.Combine(dir, string.Format("part-{0:D7}.jsonl", i));
            System.IO.File.WriteAllBytes(path, bytes);
            all.Add(path);
            total += bytes.Length;
        }
        return total;
    }
}
'@
    $all = [Collections.Generic.List[string]]::new()
    $minBytes = [math]::Min(2048, $MaxKB * 1024 / 2)
    $bytesTotal = [BenchTree]::Write($data, $Files, $minBytes, $MaxKB * 1024, $Content -eq 'Text', $all)
    $policy = Join-Path $work 'policy.yml'
    "repository: $work/repo`ntargets: {}" | Set-Content $policy
    $env:RESTIC_PASSWORD = 'bench-only'
    $size = { param($d) (Get-ChildItem $d -Recurse -File | Measure-Object Length -Sum).Sum }
    function Change-Some([int] $Seed) {
        $r = [Random]::new($Seed)
        foreach ($n in 1..([math]::Max(1, [int]($Files / 1000)))) {
            $f = $all[$r.Next(0, $all.Count)]
            $b = [byte[]]::new((Get-Item $f).Length); $r.NextBytes($b); [IO.File]::WriteAllBytes($f, $b)
        }
    }
    $first = @(); $rFirst = @(); $next = @(); $rNext = @()
    for ($run = 1; $run -le ($PeakOnly ? 0 : $Runs); $run++) {
        Remove-Item "$work/repo", "$work/restic" -Recurse -Force -ErrorAction Ignore
        bash -c "restic init -q -r '$work/restic' > /dev/null"
        $order = if ($run % 2) { 'ours', 'restic' } else { 'restic', 'ours' }
        foreach ($side in $order) {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            if ($side -eq 'ours') {
                $r = Backup-AiModel -Name data -Path $data -Version "v$run" -Policy $policy -ProgressAction SilentlyContinue
                if ($r.Status -ne 'Succeeded') { throw "Backup-AiModel: $($r.Error)" }
                $first += $clock.Elapsed.TotalSeconds
            }
            else { bash -c "restic backup -q -r '$work/restic' '$data' > /dev/null"; $rFirst += $clock.Elapsed.TotalSeconds }
        }
        $oursStored = & $size "$work/repo/models"; $resticStored = & $size "$work/restic"
        Change-Some $run
        foreach ($side in $order) {
            $clock = [Diagnostics.Stopwatch]::StartNew()
            if ($side -eq 'ours') {
                $r = Backup-AiModel -Name data -Path $data -Version "v$run-next" -Policy $policy -ProgressAction SilentlyContinue
                if ($r.Status -ne 'Succeeded') { throw "Backup-AiModel: $($r.Error)" }
                $next += $clock.Elapsed.TotalSeconds
            }
            else { bash -c "restic backup -q -r '$work/restic' '$data' > /dev/null"; $rNext += $clock.Elapsed.TotalSeconds }
        }
        Write-Host ("  run {0}: first ours {1:0.00} s, restic {2:0.00} s; next ours {3:0.00} s, restic {4:0.00} s" -f $run, $first[-1], $rFirst[-1], $next[-1], $rNext[-1])
    }
    # Peak memory of one first version each, as whole processes (ours: pwsh with the module loaded).
    Remove-Item "$work/repo", "$work/restic" -Recurse -Force -ErrorAction Ignore
    bash -c "restic init -q -r '$work/restic' > /dev/null"
    $pwsh = [Environment]::ProcessPath
    $pwshArgs = if ((Split-Path -Leaf $pwsh) -like 'dotnet*') { "'$pwsh' '$(Join-Path $PSHOME 'pwsh.dll')'" } else { "'$pwsh'" }
    # No '$' in the command: bash would expand it (an earlier '$null =' here became ' =', a parse error, and the
    # 130 MB measured was pwsh failing to start the backup). The status printed proves the backup ran.
    $timing = Join-Path $work 'time.txt'
    $status = bash -c "/usr/bin/time -v -o '$timing' $pwshArgs -NoProfile -Command `"Import-Module '$modulePath'; Backup-AiModel -Name data -Path '$data' -Version mem -Policy '$policy' | ForEach-Object Status`""
    if ($status -ne 'Succeeded') { throw "The measured Backup-AiModel did not succeed: $status" }
    $oursPeak = (Get-Content $timing | Select-String 'Maximum resident set size') -replace '\D', ''
    $resticPeak = (bash -c "/usr/bin/time -v restic backup -q -r '$work/restic' '$data' 2>&1 >/dev/null" | Select-String 'Maximum resident set size') -replace '\D', ''
    $label = if ($Content -eq 'Text') { "$Files files, JSONL text" } else { "$Files files" }
    $what = "$Files $(if ($Content -eq 'Text') { 'JSONL text' } else { 'random' }) files of $([math]::Round($minBytes / 1KB, 1))-$MaxKB KB in 100 directories ($('{0:0}' -f ($bytesTotal / 1MB)) MB)"
    if ($PeakOnly) {
        # Memory alone (a million files take minutes per backup): one first version each, whole processes.
        $lines = @("| training data ($label): peak memory (maximum resident set) of a first version of $what | Backup-AiModel (pwsh included) | $('{0:0}' -f ($oursPeak / 1KB)) MB | restic 0.14 backup | $('{0:0}' -f ($resticPeak / 1KB)) MB | $('{0:0.00}' -f ($oursPeak / $resticPeak)) |")
        $lines | ForEach-Object { Write-Host $_ }
        Set-BenchmarkRows -Root $root -Prefix "training data ($label): peak" -Lines $lines
        return
    }
    $f = Measure-Stats $first; $rf = Measure-Stats $rFirst; $n = Measure-Stats $next; $rn = Measure-Stats $rNext
    $lines = @(
        "| training data ($label): first version of $what ($Runs runs; stored ours $('{0:0}' -f ($oursStored / 1MB)) MB, restic $('{0:0}' -f ($resticStored / 1MB)) MB; peak memory ours $('{0:0}' -f ($oursPeak / 1KB)) MB with pwsh, restic $('{0:0}' -f ($resticPeak / 1KB)) MB; goal 1.0) | Backup-AiModel | $(Format-Seconds $f) | restic 0.14 backup | $(Format-Seconds $rf) | $('{0:0.00}' -f ($f.Median / $rf.Median)) |"
        "| training data ($label): next version, 0.1 % of $what changed ($Runs runs; goal 0.5) | Backup-AiModel | $(Format-Seconds $n) | restic 0.14 backup | $(Format-Seconds $rn) | $('{0:0.00}' -f ($n.Median / $rn.Median)) |"
    )
    $lines | ForEach-Object { Write-Host $_ }
    Set-BenchmarkRows -Root $root -Prefix "training data ($label):" -Lines $lines
}
finally { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
