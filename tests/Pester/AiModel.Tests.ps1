BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'Backup-AiModel, Get-AiModelBackup, Test-AiModelBackup, Restore-AiModel' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $model = Join-Path $dir 'models/llm-main'
        New-Item -ItemType Directory (Join-Path $model 'tokenizer') -Force | Out-Null
        '{ "version": "1.0" }' | Set-Content (Join-Path $model 'config.json')
        [IO.File]::WriteAllBytes((Join-Path $model 'weights.safetensors'), [byte[]](1..200000 | ForEach-Object { $_ % 251 }))
        'vocab one' | Set-Content (Join-Path $model 'tokenizer/vocab.txt')
        $v1 = Backup-AiModel -Name llm-main -Path $model -Policy $policy
        '{ "version": "1.1" }' | Set-Content (Join-Path $model 'config.json')
        'vocab two' | Set-Content (Join-Path $model 'tokenizer/vocab.txt')
        $v2 = Backup-AiModel -Name llm-main -Path $model -Policy $policy
    }

    It 'backs up versions declared by config.json, storing only what changed' {
        $v1 | Should -BeOfType ([BackupTools.Model.ModelBackupRecord])
        ($v1.Version, $v1.Status, $v1.Files) | Should -Be @('1.0', 'Succeeded', 3)
        $v2.Version | Should -Be '1.1'
        $v2.NewBytes | Should -BeLessThan 100 -Because 'only config.json and vocab.txt changed'
        (Backup-AiModel -Name llm-main -Path $model -Policy $policy).Status | Should -Be 'Unchanged'
    }

    It 'lists versions newest first and verifies their blobs' {
        (Get-AiModelBackup -Policy $policy).Version | Should -Be @('1.1', '1.0')
        Test-AiModelBackup llm-main -Policy $policy | ForEach-Object { $_.Status | Should -Be 'Verified' }
    }

    It 'restores a version with a validation script, and rolls back when it returns $false' {
        $r = Restore-AiModel llm-main 1.0 -Destination $model -Policy $policy -ValidationScript { param($d) (Get-Content "$d/config.json" -Raw) -match '1.0' } -Confirm:$false
        $r.Validated | Should -BeTrue
        Get-Content (Join-Path $model 'tokenizer/vocab.txt') | Should -Be 'vocab one'
        { Restore-AiModel llm-main 1.1 -Destination $model -Policy $policy -ValidationScript { $false } -Confirm:$false } |
            Should -Throw -ErrorId 'ModelRestoreFailed,BackupTools.Commands.RestoreAiModelCommand'
        Get-Content (Join-Path $model 'tokenizer/vocab.txt') | Should -Be 'vocab one' -Because 'the failed restore was rolled back'
    }

    It '-WhatIf changes nothing' {
        Restore-AiModel llm-main 1.1 -Destination $model -Policy $policy -WhatIf
        Get-Content (Join-Path $model 'tokenizer/vocab.txt') | Should -Be 'vocab one'
    }
}

Describe 'Backup-AiModel killed with SIGKILL' {
    It 'leaves no visible version and no blob under a final name, and the next backup succeeds' {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $model = Join-Path $dir 'big'
        New-Item -ItemType Directory $model | Out-Null
        '7' | Set-Content (Join-Path $model 'VERSION')
        # Sparse, so quick to make, with a mark at the start of each 4 MB chunk so that no two chunks are the same: 300
        # chunks, each written, fsynced and read back, take long enough to kill the backup among them.
        $f = [IO.File]::Create((Join-Path $model 'weights.gguf'))
        foreach ($i in 0..299) { $f.Position = $i * 4MB; $f.Write([BitConverter]::GetBytes($i + 1), 0, 4) }
        $f.SetLength(1200MB); $f.Dispose()
        $blobs = Join-Path $dir 'repo/models/big/blobs'
        Stop-ChildMidWrite "Backup-AiModel big -Path '$model' -Policy '$policy'" (Join-Path $blobs 'tmp') 1MB |
            Should -BeTrue -Because 'the backup must still be copying when it is killed'

        Get-AiModelBackup big -Policy $policy | Should -BeNullOrEmpty
        $final = Get-ChildItem $blobs -Recurse -File | Where-Object { $_.Directory.Name -ne 'tmp' }
        $final | ForEach-Object { (Get-FileHash $_.FullName -Algorithm SHA256).Hash.ToLower() | Should -Be $_.Name -Because 'a blob under a final name is whole' }
        $final.Length | Should -Not -Contain 1200MB -Because 'the big file was still being copied'
        @($final).Count | Should -BeLessThan 300 -Because 'it was killed before its last chunk'
        $next = Backup-AiModel big -Path $model -Policy $policy
        $next.Status | Should -Be 'Succeeded'
        Get-ChildItem (Join-Path $blobs 'tmp') -File | Should -BeNullOrEmpty -Because 'the next run clears what the killed one left'
        (Test-AiModelBackup big -Policy $policy).Status | Should -Be 'Verified'
        Remove-Item $dir -Recurse -Force
    }
}

Describe 'Remove-ExpiredBackup on AI models' {
    It 'keeps the newest versions and the deployed one, removes the rest and their unshared blobs' {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $model = Join-Path $dir 'm'
        New-Item -ItemType Directory $model | Out-Null
        "`nmodels:`n  m: { path: $model, keep: 1 }" | Add-Content $policy
        foreach ($v in 1..3) {
            "$v" | Set-Content (Join-Path $model 'VERSION')
            "weights of version $v" | Set-Content (Join-Path $model "weights.bin")
            $null = Backup-AiModel m -Policy $policy
        }
        $null = Restore-AiModel m 1 -Policy $policy -Confirm:$false     # version 1 is what is deployed now
        $removed = Remove-ExpiredBackup -Policy $policy -Confirm:$false
        $removed.Id | Should -Be '2'
        $removed.Type | Should -Be 'model'
        $removed.BytesFreed | Should -BeGreaterThan 0
        (Get-AiModelBackup m -Policy $policy).Version | Should -Be @('3', '1')
        Test-AiModelBackup m -Policy $policy | ForEach-Object { $_.Status | Should -Be 'Verified' }
        (Remove-ExpiredBackup -Policy $policy -Target m -WhatIf) | Should -BeNullOrEmpty
    }
}
