BeforeAll { . $PSScriptRoot/Common.ps1 }

# The shipped Prometheus rules and Grafana dashboard against a textfile Export-BackupMetric wrote from a real
# repository: a Redis target backed up but over its rpo, and one whose backup failed against a closed port.
Describe 'monitoring/prometheus-rules.yml and grafana-dashboard.json' {
    BeforeAll {
        $promtool = (Get-Command promtool -ErrorAction Stop).Source
        $root = Resolve-Path (Join-Path $PSScriptRoot '../..')
        $rules = Join-Path $root 'monitoring/prometheus-rules.yml'
        $dir = New-TestDirectory
        # promtool test rules matches annotations exactly too; the tests judge which alerts fire and with what labels,
        # so they run on a copy without the annotations (whose templates promtool check rules has parsed).
        $testedRules = Join-Path $dir 'rules-without-annotations.yml'
        $skip = -1
        Get-Content $rules | ForEach-Object {
            $indent = $_.Length - $_.TrimStart().Length
            if ($skip -ge 0 -and ($_.Trim() -eq '' -or $indent -gt $skip)) { return }
            $skip = -1
            if ($_.Trim() -eq 'annotations:') { $skip = $indent; return }
            $_
        } | Set-Content $testedRules
        $policy = Join-Path $dir 'policy.yml'
        @"
repository: $(Join-Path $dir 'repo')
targets:
  cache:
    engine: redis
    host: 127.0.0.1
    port: $($global:BackupToolsTestServers.Redis.Port)
    schedule: { snapshot: "0 * * * *" }
    rpo: 1s
  broken:
    engine: redis
    host: 127.0.0.1
    port: $([BackupTools.TestServers.FreePort]::Next())
    schedule: { snapshot: "0 * * * *" }
"@ | Set-Content $policy
        $null = Start-DbBackup cache -Policy $policy
        $null = Start-DbBackup broken -Policy $policy -ErrorAction SilentlyContinue
        Start-Sleep -Seconds 2   # past cache's rpo of 1 s
        $prom = Join-Path $dir 'textfile/backuptools.prom'
        $null = Export-BackupMetric -Path $prom -Policy $policy

        # Every sample of the textfile, as promtool test series.
        $samples = Get-Content $prom | Where-Object { $_ -and -not $_.StartsWith('#') } | ForEach-Object {
            $i = $_.LastIndexOf(' ')
            $series = $_.Substring(0, $i)
            $name = ($series -split '\{')[0]
            $labels = [ordered]@{}
            foreach ($m in [regex]::Matches($series, '(\w+)="((?:[^"\\]|\\.)*)"')) { $labels[$m.Groups[1].Value] = $m.Groups[2].Value -replace '\\(.)', '$1' }
            [pscustomobject]@{ Series = $series; Name = $name; Labels = $labels; Value = $_.Substring($i + 1) }
        }

        function ConvertTo-Yaml([string] $s) { "'" + $s.Replace("'", "''") + "'" }
        # The alerts the module's own numbers call for: each rule's equivalent judged from the textfile here.
        function Get-ExpectedAlerts {
            $expected = @{}
            foreach ($a in 'BackupToolsBackupCritical', 'BackupToolsBackupWarning', 'BackupToolsStorageCritical', 'BackupToolsStorageWarning',
                'BackupToolsOffsiteCritical', 'BackupToolsOffsiteWarning', 'BackupToolsStreamCritical', 'BackupToolsStreamWarning',
                'BackupToolsRecoveryCritical', 'BackupToolsRecoveryWarning', 'BackupToolsRpoOverObjective', 'BackupToolsStorageFullSoon',
                'BackupToolsMetricsStale', 'BackupToolsMetricsAbsent') { $expected[$a] = [Collections.Generic.List[object]]::new() }
            $bySeverity = @{ backuptools_severity = @('BackupToolsBackup', 'target', 'engine', 'type'); backuptools_storage_severity = @('BackupToolsStorage', 'path')
                backuptools_offsite_severity = @('BackupToolsOffsite', 'offsite', 'kind'); backuptools_stream_severity = @('BackupToolsStream', 'target')
                backuptools_recovery_severity = @('BackupToolsRecovery', 'part', 'kind') }
            foreach ($s in $samples) {
                if (-not $bySeverity.ContainsKey($s.Name) -or [double]$s.Value -eq 0) { continue }
                $spec = $bySeverity[$s.Name]
                $level = if ([double]$s.Value -eq 2) { 'critical' } else { 'warning' }
                $labels = [ordered]@{ severity = $level }
                foreach ($l in $spec[1..($spec.Count - 1)]) { $labels[$l] = $s.Labels[$l] }
                $expected[$spec[0] + $(if ($level -eq 'critical') { 'Critical' } else { 'Warning' })].Add($labels)
            }
            foreach ($age in $samples | Where-Object Name -eq 'backuptools_recovery_point_age_seconds') {
                $goal = $samples | Where-Object { $_.Name -eq 'backuptools_recovery_rpo_objective_seconds' -and $_.Labels.part -eq $age.Labels.part -and $_.Labels.kind -eq $age.Labels.kind }
                if ($goal -and [double]$age.Value -gt [double]$goal.Value) { $expected['BackupToolsRpoOverObjective'].Add([ordered]@{ severity = 'warning'; part = $age.Labels.part; kind = $age.Labels.kind }) }
            }
            foreach ($d in $samples | Where-Object Name -eq 'backuptools_storage_days_until_full') {
                if ($d.Value -ne '+Inf' -and [double]$d.Value -lt 7) { $expected['BackupToolsStorageFullSoon'].Add([ordered]@{ severity = 'warning'; path = $d.Labels.path }) }
            }
            $expected
        }

        function Write-RuleTest([hashtable] $expected, [string] $path) {
            $lines = [Collections.Generic.List[string]]::new()
            $lines.Add("rule_files: [$(ConvertTo-Yaml $testedRules)]")
            $lines.Add('evaluation_interval: 1m')
            $lines.Add('tests:')
            $lines.Add('  - interval: 1m')
            $lines.Add('    input_series:')
            foreach ($s in $samples) {
                # time() starts at 0 in a rule test: the file's own write time is moved to then, so it is fresh at the evaluation.
                $value = if ($s.Name -eq 'backuptools_textfile_generated_timestamp_seconds') { '0' } elseif ($s.Value -eq '+Inf') { 'Inf' } else { $s.Value }
                $lines.Add("      - series: $(ConvertTo-Yaml $s.Series)")
                $lines.Add("        values: '${value}x5'")
            }
            $lines.Add('    alert_rule_test:')
            foreach ($name in $expected.Keys | Sort-Object) {
                $lines.Add('      - eval_time: 2m')
                $lines.Add("        alertname: $name")
                if ($expected[$name].Count -eq 0) { $lines.Add('        exp_alerts: []'); continue }
                $lines.Add('        exp_alerts:')
                foreach ($labels in $expected[$name]) {
                    $lines.Add('          - exp_labels:')
                    foreach ($k in $labels.Keys) { $lines.Add("              ${k}: $(ConvertTo-Yaml $labels[$k])") }
                }
            }
            $lines | Set-Content $path
        }
    }

    It 'promtool accepts the rules' {
        $out = & $promtool check rules $rules 2>&1 | Out-String
        $LASTEXITCODE | Should -Be 0 -Because $out
        $out | Should -Match 'SUCCESS: \d+ rules found'
    }

    It 'the textfile holds what the scenario set up: a failed backup, an rpo missed, the file''s own time' {
        ($samples | Where-Object { $_.Name -eq 'backuptools_severity' -and $_.Labels.target -eq 'broken' }).Value | Should -Be '2'
        ($samples | Where-Object { $_.Name -eq 'backuptools_recovery_severity' -and $_.Labels.part -eq 'cache' }).Value | Should -Be '1'
        [double]($samples | Where-Object { $_.Name -eq 'backuptools_recovery_point_age_seconds' -and $_.Labels.part -eq 'cache' }).Value | Should -BeGreaterThan 1
        [double]($samples | Where-Object Name -eq 'backuptools_textfile_generated_timestamp_seconds').Value | Should -BeGreaterThan ([DateTimeOffset]::UtcNow.AddMinutes(-5).ToUnixTimeSeconds())
    }

    It 'promtool test rules: every alert the module''s severities call for fires, with its labels, and no other' {
        $expected = Get-ExpectedAlerts
        @($expected['BackupToolsBackupCritical'] | Where-Object { $_.target -eq 'broken' }) | Should -HaveCount 1
        @($expected['BackupToolsRecoveryWarning'] | Where-Object { $_.part -eq 'cache' }) | Should -HaveCount 1
        @($expected['BackupToolsRpoOverObjective'] | Where-Object { $_.part -eq 'cache' }) | Should -HaveCount 1
        $test = Join-Path $dir 'rules.test.yml'
        Write-RuleTest $expected $test
        $out = & $promtool test rules $test 2>&1 | Out-String
        $LASTEXITCODE | Should -Be 0 -Because $out
        $out | Should -Match 'SUCCESS'
    }

    It 'promtool test rules fails when an alert the textfile calls for is not expected (the check can fail)' {
        $expected = Get-ExpectedAlerts
        $expected['BackupToolsRpoOverObjective'] = [Collections.Generic.List[object]]::new()
        $test = Join-Path $dir 'rules.wrong.yml'
        Write-RuleTest $expected $test
        $out = & $promtool test rules $test 2>&1 | Out-String
        $LASTEXITCODE | Should -Not -Be 0
        $out | Should -Match 'BackupToolsRpoOverObjective'
    }

    It 'a textfile no job rewrote for 15 minutes is a Critical alert, and so is none at all' {
        $test = Join-Path $dir 'stale.test.yml'
        @"
rule_files: [$(ConvertTo-Yaml $testedRules)]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'backuptools_textfile_generated_timestamp_seconds'
        values: '0x30'
    alert_rule_test:
      - eval_time: 10m
        alertname: BackupToolsMetricsStale
        exp_alerts: []
      - eval_time: 20m
        alertname: BackupToolsMetricsStale
        exp_alerts:
          - exp_labels: { severity: critical }
  - interval: 1m
    input_series:
      - series: 'backuptools_severity{target="x",engine="redis",type="snapshot"}'
        values: '0x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: BackupToolsMetricsAbsent
        exp_alerts:
          - exp_labels: { severity: critical }
"@ | Set-Content $test
        $out = & $promtool test rules $test 2>&1 | Out-String
        $LASTEXITCODE | Should -Be 0 -Because $out
    }

    It 'the dashboard is Grafana JSON whose every query is valid PromQL over metrics Export-BackupMetric writes' {
        $dashboard = Get-Content -Raw (Join-Path $root 'monitoring/grafana-dashboard.json') | ConvertFrom-Json
        $dashboard.uid | Should -Be 'backuptools'
        $exprs = @($dashboard.panels.targets.expr)
        $exprs.Count | Should -BeGreaterThan 10
        # Each query as a recording rule: promtool parses it as Prometheus would.
        $check = Join-Path $dir 'dashboard-queries.yml'
        $lines = @('groups:', '  - name: dashboard', '    rules:')
        $i = 0
        foreach ($e in $exprs) { $lines += "      - record: dashboard_query_$((++$i))"; $lines += "        expr: $(ConvertTo-Yaml $e)" }
        $lines | Set-Content $check
        $out = & $promtool check rules $check 2>&1 | Out-String
        $LASTEXITCODE | Should -Be 0 -Because $out
        # Every metric named is one the module writes (its renderer's names), so no panel stays empty by a typo.
        $written = [regex]::Matches((Get-Content -Raw (Join-Path $root 'src/BackupTools.Engine/Status/PrometheusTextfile.cs')), '"(backuptools_\w+)"') | ForEach-Object { $_.Groups[1].Value }
        $named = $exprs | ForEach-Object { [regex]::Matches($_, 'backuptools_\w+') } | ForEach-Object Value | Sort-Object -Unique
        $named | Where-Object { $_ -notin $written } | Should -BeNullOrEmpty
        # And the panels the issue asks for are there.
        foreach ($m in 'backuptools_state', 'backuptools_recovery_window_start_timestamp_seconds', 'backuptools_recovery_point_age_seconds',
            'backuptools_recovery_rpo_objective_seconds', 'backuptools_drill_duration_seconds', 'backuptools_recovery_rto_objective_seconds',
            'backuptools_storage_free_bytes', 'backuptools_storage_days_until_full', 'backuptools_storage_growth_bytes_per_day') { $named | Should -Contain $m }
    }
}
