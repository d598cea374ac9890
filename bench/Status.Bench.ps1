<#
.SYNOPSIS
    Status speed: Get-BackupStatus over 10 000 backup sets and a year of run journal (goal: 1 s or less), against the
    raw tools reading the same manifests and journal (find + cat), in one run; medians into docs/benchmarks.md.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Build; dotnet pwsh ./bench/Status.Bench.ps1
#>
param([int] $Sets = 10000, [int] $Runs = 7, [string] $Work)
$ErrorActionPreference = 'Stop'
. $PSScriptRoot/BenchTable.ps1
$root = Split-Path $PSScriptRoot
$version = (Import-PowerShellDataFile "$root/module/BackupTools.psd1").ModuleVersion
Import-Module "$root/output/BackupTools/$version/BackupTools.psd1"

# -Work: keep the generated repository there (and reuse it when it is already there), to profile between runs.
$keep = [bool]$Work
if (-not $Work) { $Work = Join-Path ([IO.Path]::GetTempPath()) ("bt-bench-status-" + [guid]::NewGuid().ToString('N').Substring(0, 8)) }
$work = $Work
$repo = Join-Path $work 'repo'
$reuse = Test-Path (Join-Path $work 'policy.yml')
$days = [math]::Max(1, [math]::Floor($Sets / 4 / 100))
try {
  if (-not $reuse) {
    # Sets as the module writes them, for 4 MariaDB targets: a binary log archived every 15 minutes (each file
    # continuing the previous one's GTID state), a full at 02:00 and incrementals at 08:00, 14:00 and 20:00 (each
    # continuing its parent's LSN), with the binlog positions and file identities a restore plan follows; about 100
    # sets a day per target, so -Sets 100000 is 250 days of 4 servers.
    $end = [DateTime]::UtcNow.Date
    $start = $end.AddDays(-$days)
    $iso = { param($t) $t.ToString('yyyy-MM-ddTHH:mm:ssZ') }
    $written = 0
    $zero = '0' * 64
    foreach ($db in 0..3) {
        $basename = "/var/lib/mysql/db$db/mariadb-bin"
        $parent = $null; $chainRoot = $null; $lsn = 0
        $slots = $days * 96
        for ($k = 0; $k -lt $slots; $k++) {
            $first = $start.AddMinutes(15 * $k)
            $last = $first.AddMinutes(15).AddSeconds(-1)
            $file = 'mariadb-bin.{0:D6}' -f ($k + 1)
            $setStart = $last.AddSeconds(30)
            $id = '{0:yyyyMMddTHHmmssZ}-{1:x8}' -f $setStart, ($db * 10000000 + $k)
            $dir = [IO.Directory]::CreateDirectory("$repo/mariadb/db$db/binlog/$id").FullName
            [IO.File]::WriteAllText("$dir/manifest.json", ('{{"schema":"https://backuptools/schemas/manifest","schemaVersion":1,"id":"{0}","engine":"mariadb","target":"db{1}","type":"binlog","startTime":"{2}","endTime":"{3}","durationSeconds":0.2,"rawBytes":{4},"storedBytes":{5},"files":[{{"name":"{6}.zst","rawBytes":{4},"storedBytes":{5},"compression":"zstd","sha256":"{7}","rawSha256":"{7}"}}],"engineFields":{{"binlogFile":"{6}","binlogPosition":"4","endPosition":"{4}","logBasename":"{8}","timeline":"1","firstEventTime":"{9}","lastEventTime":"{10}","gtidListAtStart":"0-1-{11}","gtidStateAtEnd":"0-1-{12}","rotatedTo":"mariadb-bin.{13:D6}","serverId":"1"}}}}' -f
                $id, $db, (& $iso $setStart), (& $iso $setStart.AddSeconds(10)), (100000 + $k), (30000 + $k), $file, $zero, $basename, (& $iso $first), (& $iso $last), (100 * $k), (100 * ($k + 1)), ($k + 2)))
            $written++
            $type = if ($first.Hour -eq 2 -and $first.Minute -eq 0) { 'full' } elseif ($first.Hour -in 8, 14, 20 -and $first.Minute -eq 0 -and $chainRoot) { 'incremental' } else { $null }
            if (-not $type) { continue }
            $bStart = $first.AddMinutes(5)
            $bid = '{0:yyyyMMddTHHmmssZ}-{1:x8}' -f $bStart, ($db * 10000000 + 5000000 + $k)
            $fromLsn = if ($type -eq 'full') { 0 } else { $lsn }
            $lsn += 1000
            if ($type -eq 'full') { $chainRoot = $bid }
            $dir = [IO.Directory]::CreateDirectory("$repo/mariadb/db$db/$type/$bid").FullName
            [IO.File]::WriteAllText("$dir/manifest.json", ('{{"schema":"https://backuptools/schemas/manifest","schemaVersion":1,"id":"{0}","engine":"mariadb","target":"db{1}","type":"{2}","startTime":"{3}","endTime":"{4}","durationSeconds":60,"rawBytes":50000000,"storedBytes":20000000,{5}"files":[{{"name":"backup.mbstream.zst","rawBytes":50000000,"storedBytes":20000000,"compression":"zstd","sha256":"{6}","rawSha256":"{6}"}}],"engineFields":{{"backupType":"{7}","fromLsn":"{8}","toLsn":"{9}","lastLsn":"{9}","binlogFile":"{10}","binlogPosition":"1000","gtid":"0-1-{11}","serverId":"1","logBasename":"{12}","binlogFileCreated":"{13}","binlogFileGtidList":"0-1-{14}","timeline":"1","chainRoot":"{15}"}}}}' -f
                $bid, $db, $type, (& $iso $bStart), (& $iso $bStart.AddMinutes(1)), $(if ($type -eq 'incremental') { '"parentId":"' + $parent + '",' } else { '' }), $zero,
                $(if ($type -eq 'full') { 'full-backuped' } else { 'incremental' }), $fromLsn, $lsn, $file, (100 * $k + 50), $basename, (& $iso $first), (100 * $k), $chainRoot))
            $parent = $bid
            $written++
        }
    }
    $Sets = $written
    # The run journal of the same span: every target's binlog archive every 15 minutes, plus its fulls and incrementals.
    $journal = [IO.Directory]::CreateDirectory("$repo/_journal").FullName
    $lines = [Collections.Generic.Dictionary[string, Text.StringBuilder]]::new()
    for ($t = $start; $t -lt $end; $t = $t.AddMinutes(15)) {
        $month = $t.ToString('yyyy-MM')
        if (-not $lines.ContainsKey($month)) { $lines[$month] = [Text.StringBuilder]::new() }
        foreach ($db in 0..3) {
            $types = @('binlog') + $(if ($t.Minute -eq 0 -and $t.Hour % 6 -eq 0) { 'incremental' }) + $(if ($t.Minute -eq 0 -and $t.Hour -eq 2) { 'full' })
            foreach ($type in $types) {
                $null = $lines[$month].Append('{"time":"').Append($t.ToString('o')).Append('","engine":"mariadb","target":"db').Append($db).Append('","type":"').Append($type).Append('","status":"Succeeded","durationSeconds":2.5,"storedBytes":12345,"host":"h","processId":1}').Append("`n")
            }
        }
    }
    foreach ($m in $lines.Keys) { [IO.File]::WriteAllText("$journal/$m.jsonl", $lines[$m].ToString()) }
  }
    $journal = "$repo/_journal"
    $journalLines = (Get-ChildItem "$repo/_journal" -Filter *.jsonl | Get-Content | Measure-Object).Count
    $Sets = @(Get-ChildItem "$repo/mariadb/*/*" -Directory | Get-ChildItem -Directory).Count
    $policy = Join-Path $work 'policy.yml'
    if (-not $reuse) {
    @"
repository: $repo
targets:
$((0..3 | ForEach-Object { "  db${_}: { engine: mariadb, socket: /run/mysqld/db$_.sock, schedule: { full: `"0 2 * * *`", incremental: `"0 */6 * * *`", binlog: `"*/15 * * * *`" }, retention: { full: 30d, incremental: 7d, binlog: 14d } }" }) -join "`n")
"@ | Set-Content $policy
    }

    $count = @(Get-BackupStatus -Policy $policy | Where-Object { $_ -is [BackupTools.Model.BackupStatus] }).Count
    if ($count -ne 12) { throw "expected 12 statuses (4 targets x 3 types), got $count" }
    # The sets must form what real ones do: every target restorable over its whole span.
    $windows = @(Get-BackupStatus -Policy $policy | Where-Object { $_ -is [BackupTools.Model.BackupStatus] -and $_.Type -eq 'full' -and $_.RecoverableFrom })
    if ($windows.Count -ne 4) { throw "the generated sets do not form a restore window for every target ($($windows.Count) of 4)" }
    # Once with no index at all (a fresh repository, or one whose _catalog was deleted): every manifest read and the indexes written.
    Remove-Item (Join-Path $repo '_catalog') -Recurse -Force -ErrorAction SilentlyContinue
    $cold = (Measure-Command { Get-BackupStatus -Policy $policy | Out-Null }).TotalSeconds
    # The steady state: an index and a journal copy written more than two seconds after their directory or month last changed.
    Start-Sleep -Seconds 2
    $null = Get-BackupStatus -Policy $policy
    $ours = @(); $raw = @()
    for ($r = 0; $r -lt $Runs; $r++) {
        $ours += (Measure-Command { Get-BackupStatus -Policy $policy | Out-Null }).TotalSeconds
        $raw += (Measure-Command { bash -c "find '$repo' -name manifest.json -exec cat {} + | wc -c; cat '$journal'/*.jsonl | wc -l" | Out-Null }).TotalSeconds
    }
    $o = Measure-Stats $ours
    $w = Measure-Stats $raw
    $prefix = "status: Get-BackupStatus over $Sets sets"
    $line = "| $prefix of 4 MariaDB targets and $days days of journal ($journalLines runs; $Runs runs; goal 1 s; the first read with no index: $('{0:0.00}' -f $cold) s) | Get-BackupStatus | $(Format-Seconds $o) | find + cat of the manifests and the journal | $(Format-Seconds $w) | $('{0:0.00}' -f ($o.Median / $w.Median)) |"
    Write-Host $line
    $notes = @"
Run $((Get-Date).ToString('yyyy-MM-dd')) by ``bench/Status.Bench.ps1 -Sets $Sets``: sets as the module writes them (binary logs every 15 minutes
continuing each other's GTID state, a full and three incrementals a day continuing each other's LSN, with the
binlog positions a restore plan follows), so the point-in-time window of every target is computed in full.
Where the time goes: the catalog is read through one index per set directory (a binary cache of its manifests,
trusted only while the directory's time is the one it was built from), the closed months of the journal through a
binary copy of each (trusted only while the month file keeps its length and time), and each target's binlog timelines
and window are computed once, on both cores. Without the index the first read parses every manifest
($('{0:0.00}' -f $cold) s here). Before this work the same status took 31.3 s at 100,000 sets: placing every backup on its binlog
run scanned every file once per backup.
"@
    Set-BenchmarkRows -Root $root -Prefix $prefix -Lines $line -NotesTitle "Status over $Sets sets" -Notes $notes
}
finally { if (-not $keep) { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue } }
