<#
.SYNOPSIS
    Full-backup speed: Start-DbBackup -Type Full against the raw pipeline on the same >= 1 GB database in the same run,
    runs alternating; medians with min-max into docs/benchmarks.md.
.DESCRIPTION
    Starts a throwaway mariadbd (the test fixture's), loads -SizeGB of rows (hex text, which zstd halves, like most
    application data), then for each mode runs, alternating, -Runs times each:
      zstd: Start-DbBackup (policy: zstd level -Level, one worker per core) vs
            mariabackup --backup --stream=mbstream | zstd -T0 -<Level> | tee FILE | sha256sum
      none: Start-DbBackup (policy: compression none) vs mariabackup --backup --stream=mbstream | tee FILE | sha256sum
    Both sides get the same login through a 0600 option file. Ours also re-reads every file against its checksum
    before publishing (the raw pipeline does not); that is part of what is measured. Each backup is deleted after its
    run so the page cache and the disk see the same work for both.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Build; dotnet pwsh ./bench/MariaDbBackup.Bench.ps1
#>
param([double] $SizeGB = 1.0, [int] $Runs = 5, [int] $Level = 3, [string] $WorkRoot = [IO.Path]::GetTempPath())
$ErrorActionPreference = 'Stop'
. $PSScriptRoot/BenchTable.ps1
. $PSScriptRoot/BenchDatabase.ps1
$root = Split-Path $PSScriptRoot
$version = (Import-PowerShellDataFile "$root/module/BackupTools.psd1").ModuleVersion
Import-Module "$root/output/BackupTools/$version/BackupTools.psd1"
$work = Join-Path $WorkRoot ("bt-bench-db-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$server = $null
try {
    $server = Start-BenchServer $root $work
    $dataBytes = Add-BenchRows $server $SizeGB

    $cnf = Join-Path $work 'raw.cnf'
    "[mariabackup]`nuser=backup`npassword=`"$($server.BackupPassword)`"`nsocket=$($server.Socket)`n" | Set-Content $cnf
    chmod 600 $cnf
    function Invoke-Ours([string] $Policy) {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $r = Start-DbBackup -Target db -Policy $Policy -ProgressAction SilentlyContinue
        $s = $clock.Elapsed.TotalSeconds
        if ($r.Status -ne 'Succeeded') { throw "Start-DbBackup failed: $($r.Error)" }
        Remove-Item $r.Path -Recurse -Force
        [pscustomobject]@{ Seconds = $s; Bytes = $r.StoredBytes }
    }
    function Invoke-Raw([string] $Compressor) {
        $out = Join-Path $work 'raw.out'
        $tmp = Join-Path $work 'rawtmp'
        Remove-Item $tmp, $out -Recurse -Force -ErrorAction Ignore
        New-Item -ItemType Directory "$tmp/lsn", "$tmp/t" | Out-Null
        $pipe = "set -o pipefail; mariabackup --defaults-file='$cnf' --backup --stream=mbstream --extra-lsndir='$tmp/lsn' --target-dir='$tmp/t' 2>'$tmp/log' | $Compressor tee '$out' | sha256sum >/dev/null"
        $clock = [Diagnostics.Stopwatch]::StartNew()
        bash -c $pipe
        $s = $clock.Elapsed.TotalSeconds
        if ($LASTEXITCODE -ne 0) { throw "raw pipeline failed: $(Get-Content "$tmp/log" -Tail 5)" }
        $bytes = (Get-Item $out).Length
        Remove-Item $tmp, $out -Recurse -Force
        [pscustomobject]@{ Seconds = $s; Bytes = $bytes }
    }

    $lines = @()
    $modes = @(
        @{ Name = "zstd -$Level"; Policy = (Write-BenchPolicy $work $server 'zstd' $Level); Compressor = "zstd -q -T0 -$Level |"; Raw = "mariabackup --stream \| zstd -T0 -$Level \| tee \| sha256sum" }
        @{ Name = 'no compression'; Policy = (Write-BenchPolicy $work $server 'none' $Level); Compressor = ''; Raw = 'mariabackup --stream \| tee \| sha256sum' }
    )
    foreach ($m in $modes) {
        Invoke-Ours $m.Policy | Out-Null; Invoke-Raw $m.Compressor | Out-Null # warm-up: page cache, first-call costs
        $ours = @(); $raw = @()
        for ($i = 0; $i -lt $Runs; $i++) {
            $ours += Invoke-Ours $m.Policy
            $raw += Invoke-Raw $m.Compressor
            Write-Host ("  {0} run {1}: ours {2:0.00} s, raw {3:0.00} s" -f $m.Name, ($i + 1), $ours[-1].Seconds, $raw[-1].Seconds)
        }
        $o = Measure-Stats $ours.Seconds
        $r = Measure-Stats $raw.Seconds
        $gb = '{0:0.0} GB' -f ($dataBytes / 1GB)
        $lines += "| mariadb: full backup of $gb, $($m.Name) ($Runs runs; stored $('{0:0}' -f ($ours[-1].Bytes / 1MB)) MB vs $('{0:0}' -f ($raw[-1].Bytes / 1MB)) MB) | Start-DbBackup -Type Full | $(Format-Seconds $o) | $($m.Raw) | $(Format-Seconds $r) | $('{0:0.00}' -f ($o.Median / $r.Median)) |"
        Write-Host $lines[-1]
    }
    $mb = (mariabackup --version 2>&1) -join ' '
    $zstdVersion = (zstd --version) -join ' '
    Set-BenchmarkRows -Root $root -Prefix 'mariadb: full backup' -Lines $lines -NotesTitle 'MariaDB full backup' -Notes @"
Run $(Get-Date -Format 'yyyy-MM-dd') by ``bench/MariaDbBackup.Bench.ps1 -SizeGB $SizeGB -Runs $Runs -Level $Level``: $mb; $zstdVersion; BackupTools $version.
The data is hex text rows, which zstd -$Level stores at about half their size. Ours compresses through the system's
libzstd with one worker per core (the library the zstd CLI uses), hashes with .NET's SHA-256 (SHA-NI, about 1.5 GB/s
where coreutils' sha256sum does about 0.35 GB/s), fsyncs the set, and re-reads every stored file against its
SHA-256 before publishing; the raw pipeline neither syncs nor re-reads. Where the time goes in ours: the stream
itself (mariabackup and zstd share the two cores), then the read-back (about 0.4 s per 600 MB from the page cache);
the fsync costs little because writeback is started every 32 MB during the stream (sync_file_range). With the managed
ZstdSharp port instead of libzstd the zstd row was 1.16 (7.80 s against 6.70 s): that is why the native library is used.
"@
}
finally {
    if ($server) { $server.Dispose() }
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
