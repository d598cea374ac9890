<#
.SYNOPSIS
    Binary-log streaming: the RPO (age of the oldest commit lost, over repeated SIGKILLs of mariadbd; goal p100 <= 1 s)
    and the stream's CPU cost on a write-heavy load against mariadb-binlog --stop-never alone on the same load at the
    same time (goal 1.10). Results into docs/benchmarks.md.
.DESCRIPTION
    bench/StreamBench does the measuring: a real mariadbd (the test fixture's), Start-BinlogStream in a child pwsh as
    its service runs it. RPO: a writer commits a row every 10 ms and records each commit's GTID and the moment it
    returned; mariadbd is SIGKILLed at a random moment 1.5-3 s in; 1.5 s later the stream's files are read (whole
    transactions only, as a restore reads them) and every acknowledged commit beyond them is lost; its age at the kill
    is the sample (0 when nothing is lost). The server is restarted (crash recovery) and the stream reconnects before
    the next kill. CPU: utime+stime from /proc of pwsh and its mariadb-binlog, and of a plain mariadb-binlog, from
    5 s after both caught up to 1.5 s after the load (10 transactions of 20,000 1 KB rows) reached both.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Build; dotnet pwsh ./bench/BinlogStream.Bench.ps1 -Kills 20 -Runs 5
#>
param([int] $Kills = 20, [int] $Runs = 5)
$ErrorActionPreference = 'Stop'
. $PSScriptRoot/BenchTable.ps1
$root = Split-Path $PSScriptRoot
$version = (Import-PowerShellDataFile "$root/module/BackupTools.psd1").ModuleVersion
$module = "$root/output/BackupTools/$version/BackupTools.psd1"
if (-not (Test-Path $module)) { throw 'Build the module first: dotnet pwsh ./build.ps1 -Task Build' }
dotnet build "$root/bench/StreamBench" -c Release -o "$root/output/obj/streambench" -v q | Out-Null
if ($LASTEXITCODE) { throw 'bench/StreamBench did not build.' }
$bench = "$root/output/obj/streambench/StreamBench.dll"
# The child pwsh is started as this one runs (a pwsh program, or dotnet with pwsh.dll).
$launcher = if ((Split-Path -Leaf ([Environment]::ProcessPath)) -like 'dotnet*') { "$([Environment]::ProcessPath)|$(Join-Path $PSHOME 'pwsh.dll')" } else { [Environment]::ProcessPath }

$rpo = (dotnet $bench rpo $Kills $launcher $module | Select-Object -Last 1) | ConvertFrom-Json
if ($LASTEXITCODE) { throw 'The RPO run failed.' }
$cpu = (dotnet $bench cpu $Runs $launcher $module | Select-Object -Last 1) | ConvertFrom-Json
if ($LASTEXITCODE) { throw 'The CPU run failed.' }
$ours = Measure-Stats $cpu.ours
$raw = Measure-Stats $cpu.raw
$ratio = (Measure-Stats $cpu.ratios).Median
$mb = [math]::Round($cpu.binlogBytes / 1MB)
[string[]] $lines = @(
    "| mariadb: binlog stream RPO over $Kills SIGKILLs of mariadbd, a commit every 10 ms ($($rpo.commits) commits, $($rpo.lostCommits) lost; goal p100 <= 1 s) | Start-BinlogStream | p50 $('{0:0.000}' -f $rpo.p50) s, p100 $('{0:0.000}' -f $rpo.p100) s | (none: archiving every 15 min loses up to 15 min) | - | - |",
    "| mariadb: binlog stream CPU on a write-heavy load, against mariadb-binlog alone ($mb MB of binlog, $Runs runs; goal 1.10) | Start-BinlogStream (pwsh, its own replica connection) | $('{0:0.00} s CPU ({1:0.00}-{2:0.00})' -f $ours.Median, $ours.Min, $ours.Max) | mariadb-binlog --stop-never alone, same load, same time | $('{0:0.00} s CPU ({1:0.00}-{2:0.00})' -f $raw.Median, $raw.Min, $raw.Max) | $('{0:0.00}' -f $ratio) |"
)
$synced = Measure-Stats $cpu.synced
$lines += "| mariadb: binlog stream CPU on a write-heavy load, against the raw tool made as durable ($mb MB of binlog, $Runs runs) | Start-BinlogStream (pwsh, its own replica connection) | $('{0:0.00} s CPU ({1:0.00}-{2:0.00})' -f $ours.Median, $ours.Min, $ours.Max) | mariadb-binlog --stop-never + sync FILE of its newest file once a second | $('{0:0.00} s CPU ({1:0.00}-{2:0.00})' -f $synced.Median, $synced.Min, $synced.Max) | $('{0:0.00}' -f (Measure-Stats $cpu.syncedRatios).Median) |"
$pwshShare = (Measure-Stats $cpu.pwsh).Median
$notes = @"
Run $((Get-Date).ToString('yyyy-MM-dd')) by ``bench/BinlogStream.Bench.ps1 -Kills $Kills -Runs $Runs``: $(& mariadb-binlog --version).
RPO: the age, at the kill, of the oldest acknowledged commit the stream did not hold 1.5 s later (whole transactions
only, as a restore reads them); sorted samples (s): $(($rpo.ages | ForEach-Object { '{0:0.000}' -f $_ }) -join ', ').
The stream receives a commit within milliseconds, so killing mariadbd loses nothing the server acknowledged; what
sync: second bounds is the loss if the stream's own host fails too (at most the last second; sync: commit, fsync as
each transaction arrives, narrows that to milliseconds).
CPU is measured in the steady state a service runs in for days: after a first transaction of the same rows (the first
burst after a start costs more once, .NET compiling the receive path to its final code: measured with the same
receiver outside pwsh, 0.13 s of CPU for the first 200 MB load against 0.10-0.11 s for the next ones, and 0.20-0.23 s
for mariadb-binlog alone) and 40 s after the
stream started (past .NET's tiered recompilation of the once-a-second loop). With nothing to receive, pwsh then uses
$('{0:0.0}' -f ((Measure-Stats $cpu.idle).Median * 1000)) ms of CPU a second. The load is about $('{0:0.0}' -f (Measure-Stats $cpu.seconds).Median) s long.
Where the difference comes from: the stream receives through its own replica connection (BinlogReceiver), not
mariadb-binlog. mariadb-binlog writes each event of about 7 KB with two write calls (a 4 KB stdio buffer flushed at every
event) after one or two reads of 16 KB; ours reads up to a megabyte at a time and writes the whole events of each read
in one vectored write (measured with strace on this load, for 200 MB: mariadb-binlog about 55,000 write and 18,000 read
calls, ours 1,064 pwritev and 1,066 recv calls). It reads with plain blocking recv calls: .NET's own blocking Receive
keeps the socket non-blocking underneath and went through its event loop thread on every read (with it, ours was 0.85
of the tool alone in the same comparison). That saving pays for what only ours does: the fsync a second (the kernel's writeback of the received
bytes is charged to the process that calls fsync, while mariadb-binlog alone leaves its bytes to the kernel's flusher
threads, uncounted and not durable), the once-a-second check of the server's position and the state file. The third
row gives the raw tool the same fsync a second (a shell loop running coreutils' sync on its newest file). With
stream: { client: mariadb-binlog } the stream runs the tool instead: that was 1.25 against the tool alone (2026-11-30).
"@
Set-BenchmarkRows -Root $root -Prefix 'mariadb: binlog stream' -Lines $lines -NotesTitle 'MariaDB binlog streaming' -Notes $notes
$rpo, $cpu | Format-List
