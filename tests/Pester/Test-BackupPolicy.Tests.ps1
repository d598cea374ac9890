BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Test-BackupPolicy' {
    It 'returns $true and writes no error for a valid policy' {
        $result = Test-BackupPolicy -Policy (New-TestPolicy) -ErrorVariable err
        $result | Should -BeTrue
        $err | Should -BeNullOrEmpty
    }

    It 'writes every problem as an error record with file:line:column and returns $false' {
        $bad = Join-Path (New-TestDirectory) 'policy.yml'
        Set-Content $bad @'
repository: /backup
targets:
  main-db:
    engine: mariadb
    socket: /run/mysqld/mysqld.sock
    retention: { full: 30 days }
    colour: blue
'@
        $result = Test-BackupPolicy -Policy $bad -ErrorAction SilentlyContinue -ErrorVariable err
        $result | Should -BeFalse
        $err.Count | Should -Be 2
        $err.FullyQualifiedErrorId | Should -Be (@('PolicyProblem,BackupTools.Commands.TestBackupPolicyCommand') * 2)
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
        @($err | ForEach-Object { $_.ToString() }) | Should -Be @(
            'policy.yml:7:5: targets.main-db.colour: unknown key; expected one of: engine, host, port, socket, user, passwordEnv, passwordFile, dataDir, configFile, url, snapshotRepository, indices, schedule, retention, startCommand, snapshotRepositorySettings, allowEmpty, toolsDir, stream, rpo, rto'
            "policy.yml:6:24: targets.main-db.retention.full: '30 days' is not a duration; use forms like 30d, 6h, 15m"
        )
        $err[1].TargetObject.Line | Should -Be 6
        $err[1].TargetObject.Key | Should -Be 'targets.main-db.retention.full'
    }

    It 'takes policy files from Get-ChildItem on the pipeline' {
        $dir = New-TestDirectory
        $null = New-TestPolicy $dir
        Set-Content (Join-Path $dir 'broken.yml') 'targets: {}'
        $results = Get-ChildItem $dir -Filter *.yml | Sort-Object Name | Test-BackupPolicy -ErrorAction SilentlyContinue -ErrorVariable err
        $results | Should -Be @($false, $true)
        $err.Count | Should -Be 1
        $err[0].ToString() | Should -Be 'broken.yml:1:1: repository: is required'
    }

    It 'reports a missing file as PolicyNotFound and returns $false' {
        Test-BackupPolicy -Policy /nonexistent/p.yml -ErrorAction SilentlyContinue -ErrorVariable err | Should -BeFalse
        $err[0].FullyQualifiedErrorId | Should -Be 'PolicyNotFound,BackupTools.Commands.TestBackupPolicyCommand'
    }

    It 'checks an offsite section (both kinds) and names a missing required key' {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        Add-Content $policy "`noffsite:`n  azure: { kind: azureBlob, connectionStringEnv: BT_TEST_AZURE, container: backups }`n  s3: { kind: s3, bucket: bkt }`nencryption: { keyFile: $dir/backup.key }"
        Test-BackupPolicy -Policy $policy -WarningVariable warned 3>$null | Should -BeTrue
        ($warned -join ' ') | Should -Not -Match 'offsite'
        (Get-Content $policy -Raw) -replace 's3: \{ kind: s3, bucket: bkt \}', 's3: { kind: s3 }' | Set-Content $policy
        Test-BackupPolicy -Policy $policy -ErrorAction SilentlyContinue -ErrorVariable err 3>$null | Should -BeFalse
        ($err | ForEach-Object ToString) -join ' ' | Should -Match 'offsite\.s3\.bucket: is required'
    }
}
