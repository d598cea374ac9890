BeforeAll { . $PSScriptRoot/Common.ps1 }

# RESET MASTER through the cmdlets, on a server of this file's own (never the shared one): the new files are archived
# on timeline 2, status warns until a full exists on it, the scheduled incremental becomes that full, and plans on
# both sides of the switch stay on one timeline.
Describe 'Binary-log timelines through the cmdlets' {
    BeforeAll {
        $dir = New-TestDirectory
        $server = [BackupTools.TestServers.MariaDbServer]::Start((Join-Path $dir 'db'))
        $env:BT_TIMELINE_PASSWORD = $server.BackupPassword
        $policy = Join-Path $dir 'policy.yml'
        @"
repository: $dir/repo
targets:
  db:
    engine: mariadb
    socket: $($server.Socket)
    user: backup
    passwordEnv: BT_TIMELINE_PASSWORD
    dataDir: $($server.DataDirectory)
    schedule: { full: "0 2 * * *", incremental: "0 */6 * * *", binlog: "*/15 * * * *" }
    retention: { full: 30d, incremental: 7d, binlog: 14d }
alerts:
  delayGrace: 1h
  channels: {}
"@ | Set-Content $policy
        function Wait-NextSecond {
            $now = [DateTime]::UtcNow
            $next = [DateTime]::new($now.Ticks - $now.Ticks % [TimeSpan]::TicksPerSecond, 'Utc').AddSeconds(1)
            Start-Sleep -Milliseconds ([int]($next - $now).TotalMilliseconds + 80)
            $next
        }
        $server.Sql('CREATE DATABASE t; CREATE TABLE t.r (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6)) ENGINE=InnoDB;') | Out-Null
        $full = Start-DbBackup db Full -Policy $policy
        $server.Sql('INSERT INTO t.r (at) VALUES (NOW(6));') | Out-Null
        $before = Wait-NextSecond
        $server.Sql('INSERT INTO t.r (at) VALUES (NOW(6));') | Out-Null
        $first = @(Start-DbBackup db Binlog -Policy $policy)
        $server.Sql('RESET MASTER; INSERT INTO t.r (at) VALUES (NOW(6));') | Out-Null
        $afterReset = Wait-NextSecond
        $second = @(Start-DbBackup db Binlog -Policy $policy)
    }
    AfterAll { $server.Dispose(); Remove-Item Env:BT_TIMELINE_PASSWORD }

    It 'archives the new mariadb-bin.000001 on timeline 2' {
        $first.Timeline | Sort-Object -Unique | Should -Be 1
        $second.Status | Should -Not -Contain 'Failed'
        $second.BinlogFile | Should -Contain 'mariadb-bin.000001'
        $second.Timeline | Sort-Object -Unique | Should -Be 2
        (Get-DbBackup -Target db -Type Binlog -Policy $policy | Where-Object BinlogFile -eq 'mariadb-bin.000001').Count | Should -Be 2
    }

    It 'warns about the switch in Get-BackupStatus until a full backup exists on the new timeline' {
        $status = Get-BackupStatus -Target db -Policy $policy | Where-Object Type -eq binlog
        $status.Severity | Should -Be 'Warning'
        $status.Timeline | Should -Be 2
        $status.Message | Should -Match 'timeline 2'
        $err = { Get-DbRestorePlan db $afterReset -Policy $policy -SkipChecksum } | Should -Throw -PassThru
        $err.Exception.Message | Should -Match 'timeline 2'
    }

    It 'takes the scheduled incremental as a full on the new timeline, which ends the warning' {
        $taken = Start-DbBackup db Incremental -Policy $policy
        $taken.Type | Should -Be 'full'
        $taken.Timeline | Should -Be 2
        $server.Sql('INSERT INTO t.r (at) VALUES (NOW(6));') | Out-Null
        $later = Wait-NextSecond
        $null = Start-DbBackup db Binlog -Policy $policy
        (Get-BackupStatus -Target db -Policy $policy | Where-Object Type -eq binlog).Severity | Should -Be 'None'
        $plan = Get-DbRestorePlan db $later -Policy $policy
        $plan.Timeline | Should -Be 2
        $plan.Binlogs.Timeline | Sort-Object -Unique | Should -Be 2
        ($plan | Out-String) | Should -Match 'Timeline\s+: 2'
        $old = Get-DbRestorePlan db $before -Policy $policy
        $old.Timeline | Should -Be 1
        $old.Full.Id | Should -Be $full.Id
    }
}
