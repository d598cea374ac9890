<#
.SYNOPSIS
    Point-in-time restore speed: Restore-DbToPointInTime against the raw chain run by a bash script (extract, prepare,
    prepare incremental, move-back, start mariadbd, replay binlogs, stop) on the same backups in the same run, runs
    alternating; medians with min-max into docs/benchmarks.md.
.DESCRIPTION
    Loads -SizeGB into a throwaway mariadbd, takes a full backup, writes -BinlogRows rows (half before an incremental,
    half after), archives the binary logs, and restores to a point after the last row. Ours also checks every file's
    SHA-256 as it reads it and validates the result (-Validation: CheckTable by default, or RowCount); the raw script
    does neither.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Build; dotnet pwsh ./bench/MariaDbRestore.Bench.ps1
#>
param([double] $SizeGB = 1.0, [int] $BinlogRows = 110000, [int] $Runs = 5, [ValidateSet('CheckTable', 'RowCount')][string] $Validation = 'CheckTable',
    [string] $WorkRoot = [IO.Path]::GetTempPath())
$ErrorActionPreference = 'Stop'
. $PSScriptRoot/BenchTable.ps1
. $PSScriptRoot/BenchDatabase.ps1
$root = Split-Path $PSScriptRoot
$version = (Import-PowerShellDataFile "$root/module/BackupTools.psd1").ModuleVersion
Import-Module "$root/output/BackupTools/$version/BackupTools.psd1"
$work = Join-Path $WorkRoot ("bt-bench-restore-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$server = $null
try {
    $server = Start-BenchServer $root $work
    $dataBytes = Add-BenchRows $server $SizeGB
    $policy = Write-BenchPolicy $work $server
    $server.Sql('CREATE TABLE bench.r (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB;') | Out-Null
    function Add-BinlogRows([int] $From, [int] $Count) {
        for ($i = $From; $i -lt $From + $Count; $i += 10000) {
            $end = [math]::Min($i + 9999, $From + $Count - 1)
            $server.Sql("USE bench; INSERT INTO bench.r SELECT seq, SHA2(seq, 512) FROM seq_${i}_to_$end;") | Out-Null
        }
    }
    $full = Start-DbBackup db -Policy $policy
    Add-BinlogRows 1 ($BinlogRows / 2)
    $inc = Start-DbBackup db Incremental -Policy $policy
    Add-BinlogRows ($BinlogRows / 2 + 1) ($BinlogRows / 2)
    Start-Sleep -Milliseconds 1100
    $t = [DateTime]::UtcNow
    Start-Sleep -Milliseconds 1100
    $null = Start-DbBackup db Binlog -Policy $policy
    $plan = Get-DbRestorePlan db $t -Policy $policy -SkipChecksum
    if ($plan.Incrementals.Count -ne 1) { throw "expected the plan to use the incremental" }
    $script:binlogFiles = @($plan.Binlogs | ForEach-Object { Join-Path $_.Path "$($_.BinlogFile).zst" })
    Write-Host "Binlog files: $($script:binlogFiles -join ', ')"
    $binlogBytes = ($plan.Binlogs | Measure-Object RawBytes -Sum).Sum
    Write-Host ("Plan: {0}; {1:0} MB of binary logs" -f $plan.Summary, ($binlogBytes / 1MB))

    $raw = Join-Path $work 'raw-restore.sh'
    @'
set -euo pipefail
W=$1; FULL=$2; INC=$3; POS=$4; STOP=$5; shift 5
mkdir -p "$W/full" "$W/inc" "$W/bl"
zstd -q -d -c "$FULL" | mbstream -x -C "$W/full"
zstd -q -d -c "$INC" | mbstream -x -C "$W/inc"
mariabackup --prepare --target-dir="$W/full" 2>"$W/log"
mariabackup --prepare --target-dir="$W/full" --incremental-dir="$W/inc" 2>>"$W/log"
mariabackup --move-back --target-dir="$W/full" --datadir="$W/data" 2>>"$W/log"
files=()
for b in "$@"; do f="$W/bl/$(basename "$b" .zst)"; zstd -q -d -c "$b" > "$f"; files+=("$f"); done
printf '[mariadbd]\nuser=root\ndatadir=%s/data\nsocket=%s/s.sock\npid-file=%s/p.pid\nlog-error=%s/err.log\nskip-networking\nskip-log-bin\nmax_allowed_packet=1G\n' "$W" "$W" "$W" "$W" > "$W/my.cnf"
mariadbd --defaults-file="$W/my.cnf" &
until mariadb-admin --socket="$W/s.sock" ping >/dev/null 2>&1; do sleep 0.1; done
TZ=UTC mariadb-binlog --start-position="$POS" --stop-datetime="$STOP" "${files[@]}" | mariadb --socket="$W/s.sock" --max-allowed-packet=1G
mariadb-admin --socket="$W/s.sock" shutdown
wait
'@ | Set-Content $raw

    function Invoke-Ours([int] $Run) {
        $dest = Join-Path $work "ours-$Run"
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $r = $plan | Restore-DbToPointInTime -Destination $dest -Validation $Validation -Confirm:$false -ProgressAction SilentlyContinue
        $s = $clock.Elapsed.TotalSeconds
        $rows = ($r.Tables | Where-Object Table -eq 'bench.r').Rows
        if ($rows -ne $BinlogRows) { throw "ours restored $rows rows of bench.r, expected $BinlogRows" }
        Remove-Item $dest -Recurse -Force
        [pscustomobject]@{ Seconds = $s; Steps = $r.Steps }
    }
    function Invoke-Raw([int] $Run) {
        $w = Join-Path $work "raw-$Run"
        $fullFile = Join-Path $plan.Full.Path 'backup.mbstream.zst'
        $incFile = Join-Path $plan.Incrementals[0].Path 'backup.mbstream.zst'
        $stop = $plan.StopTime.ToString('yyyy-MM-dd HH:mm:ss')
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $files = @($script:binlogFiles)
        bash $raw $w $fullFile $incFile $plan.StartBinlogPosition $stop @files
        $s = $clock.Elapsed.TotalSeconds
        if ($LASTEXITCODE -ne 0) { throw "the raw restore failed: $(Get-Content "$w/log" -Tail 5 -ErrorAction Ignore)" }
        Remove-Item $w -Recurse -Force
        [pscustomobject]@{ Seconds = $s }
    }

    $null = Invoke-Ours 0; $null = Invoke-Raw 0 # warm-up
    $ours = @(); $rawRuns = @()
    for ($i = 1; $i -le $Runs; $i++) {
        $ours += Invoke-Ours $i
        $rawRuns += Invoke-Raw $i
        Write-Host ("  run {0}: ours {1:0.00} s, raw {2:0.00} s" -f $i, $ours[-1].Seconds, $rawRuns[-1].Seconds)
    }
    $o = Measure-Stats $ours.Seconds
    $r = Measure-Stats $rawRuns.Seconds
    $gb = '{0:0.0} GB' -f ($dataBytes / 1GB)
    $line = "| mariadb: point-in-time restore of $gb + 1 incremental + $BinlogRows binlog rows, validation $Validation ($Runs runs) | Restore-DbToPointInTime | $(Format-Seconds $o) | bash: zstd -d \| mbstream, prepare, prepare incremental, move-back, mariadbd, mariadb-binlog \| mariadb, shutdown | $(Format-Seconds $r) | $('{0:0.00}' -f ($o.Median / $r.Median)) |"
    Write-Host $line
    $median = $ours | Sort-Object Seconds | Select-Object -Index ([math]::Floor($Runs / 2))
    $steps = ($median.Steps | ForEach-Object { '{0} {1:0.00} s' -f $_.Name, $_.Duration.TotalSeconds }) -join '; '
    $validate = ($median.Steps | Where-Object Name -eq 'validate').Duration.TotalSeconds
    $withoutValidation = '{0:0.00}' -f (($median.Seconds - $validate) / $r.Median)
    Set-BenchmarkRows -Root $root -Prefix "mariadb: point-in-time restore of $gb + 1 incremental + $BinlogRows binlog rows, validation $Validation" -Lines $line -NotesTitle "MariaDB point-in-time restore (validation $Validation)" -Notes @"
Run $(Get-Date -Format 'yyyy-MM-dd') by ``bench/MariaDbRestore.Bench.ps1 -SizeGB $SizeGB -BinlogRows $BinlogRows -Runs $Runs -Validation $Validation``.
Both restore the same plan ($($plan.Summary); $('{0:0}' -f ($binlogBytes / 1MB)) MB of binary logs) to the same second. Ours also proves every stored
file against its SHA-256 while reading it, validates ($Validation on every table, row counts), drops its throwaway login and sets
file ownership; the raw script does none of that. Ours, steps of the median run: $steps.
Where the time goes: the validation step ($('{0:0.00}' -f $validate) s) is the whole difference. It reads every table once
(RowCount) or every index (CheckTable) on a temporary server whose pages come from the page cache. Without it, the
restore itself runs at $withoutValidation of the raw script: the extraction of the full and the incremental overlaps,
and decompression uses the system libzstd (the managed port took 1.8 s where libzstd takes 1.2 s for 1.2 GB).
"@
}
finally {
    if ($server) { $server.Dispose() }
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
