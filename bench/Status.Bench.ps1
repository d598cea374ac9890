<#
.SYNOPSIS
    Status speed: Get-BackupStatus over 10 000 backup sets and a year of run journal (goal: 1 s or less), against the
    raw tools reading the same manifests and journal (find + cat), in one run; medians into docs/benchmarks.md.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Build; dotnet pwsh ./bench/Status.Bench.ps1
#>
param([int] $Sets = 10000, [int] $Runs = 7)
$ErrorActionPreference = 'Stop'
. $PSScriptRoot/BenchTable.ps1
$root = Split-Path $PSScriptRoot
$version = (Import-PowerShellDataFile "$root/module/BackupTools.psd1").ModuleVersion
Import-Module "$root/output/BackupTools/$version/BackupTools.psd1"

$work = Join-Path ([IO.Path]::GetTempPath()) ("bt-bench-status-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$repo = Join-Path $work 'repo'
try {
    $end = [DateTime]::UtcNow
    $start = $end.AddDays(-365)
    $step = ($end - $start).TotalMinutes / $Sets
    for ($i = 0; $i -lt $Sets; $i++) {
        $t = $start.AddMinutes($step * $i)
        $id = '{0:yyyyMMddTHHmmssZ}-{1:x8}' -f $t, $i
        $type = @('full', 'incremental', 'binlog', 'binlog')[[math]::Floor($i / 4) % 4]
        $dir = [IO.Directory]::CreateDirectory("$repo/mariadb/db$($i % 4)/$type/$id").FullName
        [IO.File]::WriteAllText("$dir/manifest.json", (@{
            schema = 'https://backuptools/schemas/manifest'; schemaVersion = 1; id = $id; engine = 'mariadb'; target = "db$($i % 4)"; type = $type
            startTime = $t.ToString('o'); endTime = $t.AddMinutes(1).ToString('o'); rawBytes = 1000 + $i; storedBytes = 500 + $i
            engineFields = @{ binlogFile = ('mariadb-bin.{0:D6}' -f ($i + 1)); binlogPosition = '4'; lastEventTime = $t.AddMinutes(1).ToString('yyyy-MM-ddTHH:mm:ssZ') }
            files = @(@{ name = 'backup.mbstream.zst'; rawBytes = 1; storedBytes = 1; compression = 'zstd'; sha256 = ('0' * 64); rawSha256 = ('0' * 64) })
        } | ConvertTo-Json -Depth 4))
    }
    # A year of journal: every target's binlog archive every 15 minutes, plus daily fulls and 6-hourly incrementals.
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
    $journalLines = ($lines.Values | ForEach-Object { $_.ToString().Split("`n").Count - 1 } | Measure-Object -Sum).Sum
    $policy = Join-Path $work 'policy.yml'
    @"
repository: $repo
targets:
$((0..3 | ForEach-Object { "  db${_}: { engine: mariadb, socket: /run/mysqld/db$_.sock, schedule: { full: `"0 2 * * *`", incremental: `"0 */6 * * *`", binlog: `"*/15 * * * *`" }, retention: { full: 30d, incremental: 7d, binlog: 14d } }" }) -join "`n")
"@ | Set-Content $policy

    $count = @(Get-BackupStatus -Policy $policy | Where-Object { $_ -is [BackupTools.Model.BackupStatus] }).Count
    if ($count -ne 12) { throw "expected 12 statuses (4 targets x 3 types), got $count" }
    $ours = @(); $raw = @()
    for ($r = 0; $r -lt $Runs; $r++) {
        $ours += (Measure-Command { Get-BackupStatus -Policy $policy | Out-Null }).TotalSeconds
        $raw += (Measure-Command { bash -c "find '$repo' -name manifest.json -exec cat {} + | wc -c; cat '$journal'/*.jsonl | wc -l" | Out-Null }).TotalSeconds
    }
    $o = Measure-Stats $ours
    $w = Measure-Stats $raw
    $line = "| status: Get-BackupStatus over $Sets sets and a year of journal ($journalLines runs; $Runs runs; goal 1 s) | Get-BackupStatus | $(Format-Seconds $o) | find + cat of the manifests and the journal | $(Format-Seconds $w) | $('{0:0.00}' -f ($o.Median / $w.Median)) |"
    Write-Host $line
    Set-BenchmarkRows -Root $root -Prefix 'status:' -Lines $line
}
finally { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
