# Dot-sourced by the bench scripts: one place that writes docs/benchmarks.md, replacing only the rows a script owns.

function Measure-Stats([double[]] $Seconds) {
    $sorted = $Seconds | Sort-Object
    [pscustomobject]@{
        Median = if ($sorted.Count % 2) { $sorted[[math]::Floor($sorted.Count / 2)] } else { ($sorted[$sorted.Count / 2 - 1] + $sorted[$sorted.Count / 2]) / 2 }
        Min    = $sorted[0]
        Max    = $sorted[-1]
        Runs   = $sorted.Count
    }
}

function Format-Seconds($Stats) { '{0:0.00} s ({1:0.00}-{2:0.00})' -f $Stats.Median, $Stats.Min, $Stats.Max }

<#
Replaces the rows whose first cell starts with $Prefix by $Lines, keeps every other row, and rewrites the header
(with the machine and versions) and $Notes under a heading of its own.
#>
function Set-BenchmarkRows([string] $Root, [string] $Prefix, [string[]] $Lines, [string] $NotesTitle, [string] $Notes) {
    $doc = Join-Path $Root 'docs/benchmarks.md'
    $existing = if (Test-Path $doc) { Get-Content $doc } else { @() }
    $rows = @($existing | Where-Object { $_ -like '| *' -and $_ -notlike '| what*' -and $_ -notlike '|---*' -and $_ -notlike "| $Prefix*" })
    $sections = [ordered]@{}
    $current = $null
    foreach ($l in $existing) {
        if ($l -like '## *') { $current = $l.Substring(3); $sections[$current] = @() }
        elseif ($current) { $sections[$current] += $l }
    }
    if ($NotesTitle) { $sections[$NotesTitle] = @('', $Notes.Trim(), '') }
    $cpu = (Get-Content /proc/cpuinfo -ErrorAction Ignore | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^model name\s*:\s*', ''
    $cores = [Environment]::ProcessorCount
    $memGb = [math]::Round(((Get-Content /proc/meminfo -ErrorAction Ignore | Select-Object -First 1) -replace '\D', '') / 1MB)
    $text = @"
# Benchmarks

Measured by the scripts in ``bench/`` against the raw tool on the same data in the same run, runs alternating; each
time is the median with min-max in brackets. Ratio = ours / raw (lower is better). Re-run a script to refresh its rows.
Machine: $cpu, $cores cores, $memGb GB, $((Get-Content /etc/debian_version -ErrorAction Ignore) -replace '^', 'Debian ').

| what | ours | time | raw tool | time | ratio |
|---|---|---|---|---|---|
$((@($rows) + $Lines) -join "`n")

"@
    $text = $text.TrimEnd() + "`n`n"
    foreach ($k in $sections.Keys) { $text += "## $k`n`n" + (($sections[$k] | Where-Object { $_ -notlike '| *' -and $_ -notlike '|---*' }) -join "`n").Trim("`n") + "`n`n" }
    $text.TrimEnd() + "`n" | Set-Content $doc
}
