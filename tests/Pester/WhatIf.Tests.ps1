BeforeAll { . $PSScriptRoot/Common.ps1 }

# -WhatIf changes nothing on disk: every file under the repository, the model, the config directory and the cron
# file (path, size, mtime) is the same before and after each cmdlet that supports it, including the lock files and
# leftover cleanup a real run would do (a stale .partial set and a dead run's scratch directory stay where they are).
Describe '-WhatIf writes nothing' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $model = Join-Path $dir 'models/m'
        New-Item -ItemType Directory $model -Force | Out-Null
        '{ "version": "1.0" }' | Set-Content (Join-Path $model 'config.json')
        New-Item -ItemType Directory "$dir/etc" | Out-Null
        'a = 1' | Set-Content "$dir/etc/app.conf"
        "`nmodels: { m: { path: $model, keep: 1 } }`nconfig: { paths: [$dir/etc] }`nmetrics: { path: $dir/metrics.prom }" | Add-Content $policy
        $null = Initialize-BackupRepository -Policy $policy
        $null = Start-DbBackup main-db Full -Policy $policy
        Start-Sleep -Milliseconds 1100
        $at = Get-Date
        Start-Sleep -Milliseconds 1100
        $global:BackupToolsTestServers.MariaDb.Sql('CREATE DATABASE IF NOT EXISTS whatif;') | Out-Null
        $null = Start-DbBackup main-db Binlog -Policy $policy
        $null = Backup-AiModel -Name m -Path $model -Policy $policy
        '{ "version": "2.0" }' | Set-Content (Join-Path $model 'config.json')
        $null = Backup-AiModel -Name m -Path $model -Policy $policy
        $first = Backup-ConfigFile -Policy $policy
        'a = 2' | Set-Content "$dir/etc/app.conf"
        $null = Backup-ConfigFile -Policy $policy
        # Leftovers a real retention run would clean up: an old partial set, and scratch of a run that is gone.
        $partial = New-Item -ItemType Directory "$dir/repo/mariadb/main-db/full/20200101T000000Z-dead.partial" -Force
        $partial.LastWriteTimeUtc = [DateTime]::UtcNow.AddDays(-3)
        $scratch = New-Item -ItemType Directory "$dir/repo/_scratch/verify-dead-0000" -Force
        $scratch.LastWriteTimeUtc = [DateTime]::UtcNow.AddDays(-3)
        $cron = Join-Path $dir 'cron'
        Set-Content $cron '# not ours'
        function Get-Tree {
            foreach ($root in "$dir/repo", $model, "$dir/etc", $cron) {
                Get-ChildItem $root -Recurse -Force -ErrorAction SilentlyContinue | Sort-Object FullName | ForEach-Object {
                    "$($_.FullName)|$(if (-not $_.PSIsContainer) { $_.Length })|$($_.LastWriteTimeUtc.Ticks)"
                }
                $item = Get-Item $root -Force
                "$($item.FullName)|$($item.LastWriteTimeUtc.Ticks)"
            }
        }
    }

    It '<Name> -WhatIf leaves every file as it was' -ForEach @(
        @{ Name = 'Remove-ExpiredBackup'; Run = { Remove-ExpiredBackup -Policy $policy -AsOf (Get-Date).AddDays(400) -WhatIf 6>$null } }
        @{ Name = 'Restore-DbToPointInTime'; Run = { Restore-DbToPointInTime main-db $at -Destination "$dir/restored" -Policy $policy -WhatIf 6>$null } }
        @{ Name = 'Restore-AiModel'; Run = { Restore-AiModel m 1.0 -Destination $model -Policy $policy -WhatIf 6>$null } }
        @{ Name = 'Restore-ConfigFile'; Run = { Restore-ConfigFile -Path "$dir/etc/app.conf" -Commit $first.Commit -Policy $policy -WhatIf 6>$null } }
        @{ Name = 'Register-BackupSchedule'; Run = { Register-BackupSchedule -Policy $policy -CronFile $cron -PwshPath /bin/true -WhatIf 6>$null } }
        @{ Name = 'Unregister-BackupSchedule'; Run = { Unregister-BackupSchedule -CronFile $cron -WhatIf 6>$null } }
        @{ Name = 'Export-BackupMetric'; Run = { Export-BackupMetric -Path "$dir/metrics.prom" -Policy $policy -WhatIf 6>$null } }
        @{ Name = 'Initialize-BackupRepository'; Run = { Initialize-BackupRepository -Policy $policy -WhatIf 6>$null } }
        @{ Name = 'Send-BackupAlert'; Run = { Get-BackupStatus -Policy $policy | Send-BackupAlert -Policy $policy -WhatIf -ErrorAction SilentlyContinue 6>$null }
           # The status before it is a plain read, which keeps the catalog's caches current: they are made current first
           # (two seconds after the repository last changed, so they are trusted), and the what-if then changes nothing.
           Warm = $true }
    ) {
        if ($Warm) {
            Start-Sleep -Milliseconds 2100
            $null = Get-BackupStatus -Policy $policy -WarningAction SilentlyContinue
        }
        $before = Get-Tree
        $null = & $Run
        $after = Get-Tree
        Compare-Object $before $after | Out-String | Should -BeNullOrEmpty
        $partial.FullName | Should -Exist
        $scratch.FullName | Should -Exist
    }
}
