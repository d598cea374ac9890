BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Start-BinlogStream' {
    It 'streams and seals rotated files into binlog sets until Ctrl+C (SIGINT), then stops promptly with its replica' {
        $db = $global:BackupToolsTestServers.MariaDb
        $db.Sql("GRANT REPLICATION SLAVE ON *.* TO 'backup'@'localhost'; GRANT REPLICATION SLAVE ON *.* TO 'backup'@'127.0.0.1';") | Out-Null
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $psi = [Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
        foreach ($a in @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command',
                "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; Start-BinlogStream main-db -Policy '$policy' | ForEach-Object { 'SEALED ' + `$_.Id }")) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $child = [Diagnostics.Process]::Start($psi)
        try {
            Start-Sleep -Seconds 3
            $before = @(Get-DbBackup -Target main-db -Type Binlog -Policy $policy).Count
            $db.Sql('CREATE DATABASE IF NOT EXISTS streamtest; FLUSH BINARY LOGS;') | Out-Null
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ([DateTime]::UtcNow -lt $deadline -and @(Get-DbBackup -Target main-db -Type Binlog -Policy $policy).Count -le $before) { Start-Sleep -Milliseconds 200 }
            @(Get-DbBackup -Target main-db -Type Binlog -Policy $policy).Count | Should -BeGreaterThan $before -Because 'the rotated file is sealed while the stream runs'
            $child.HasExited | Should -BeFalse
            $stream = Get-BackupStatus main-db -Policy $policy | Where-Object { $_ -is [BackupTools.Model.StreamStatus] }
            ($stream.Target, $stream.State) | Should -Be @('main-db', 'Running')
            kill -INT $child.Id
            $child.WaitForExit(15000) | Should -BeTrue -Because 'Ctrl+C stops the stream promptly'
            $child.StandardOutput.ReadToEnd() | Should -Match 'SEALED '
            Get-BackupStatus -Policy $policy | Where-Object { $_ -is [BackupTools.Model.StreamStatus] } | Should -BeNullOrEmpty -Because 'a stream stopped by its user is not a dead one'
            @(Get-ChildItem /proc -Directory | Where-Object { $_.Name -match '^\d+$' } | Where-Object {
                (Get-Content "$($_.FullName)/cmdline" -Raw -ErrorAction Ignore) -match "_stream/main-db" }).Count | Should -Be 0 -Because 'no replica is left connected'
        }
        finally {
            if (-not $child.HasExited) { $child.Kill($true) }
            $db.Sql('DROP DATABASE IF EXISTS streamtest;') | Out-Null
        }
    }
}
