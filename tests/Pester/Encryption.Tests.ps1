BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'New-BackupEncryptionKey' {
    BeforeEach { $dir = New-TestDirectory }

    It 'writes a 0600 key file and returns its id, never the key' {
        $info = New-BackupEncryptionKey -Path (Join-Path $dir 'backup.key')
        $info | Should -BeOfType ([BackupTools.Model.EncryptionKeyInfo])
        $info.KeyId | Should -Match '^[0-9a-f]{16}$'
        $info.Path | Should -Be (Join-Path $dir 'backup.key')
        (Get-Item $info.Path).UnixFileMode | Should -Be ([IO.UnixFileMode]'UserRead, UserWrite')
        $text = (Get-Content $info.Path -Raw).Trim()
        [Convert]::FromBase64String($text).Length | Should -Be 32
        ($info | Out-String) | Should -Not -Match ([regex]::Escape($text))
        ($info | Out-String) | Should -Match $info.KeyId
    }

    It 'never overwrites a key file: the error names it and the file is unchanged' {
        $path = Join-Path $dir 'backup.key'
        $null = New-BackupEncryptionKey $path
        $before = Get-Content $path -Raw
        $out = New-BackupEncryptionKey $path -ErrorVariable err -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'EncryptionKeyExists,BackupTools.Commands.NewBackupEncryptionKeyCommand'
        $err[0].Exception.Message | Should -Match ([regex]::Escape($path))
        Get-Content $path -Raw | Should -Be $before
    }

    It 'takes paths from the pipeline, each key its own, and -WhatIf creates nothing' {
        $keys = (Join-Path $dir 'a.key'), (Join-Path $dir 'b.key') | New-BackupEncryptionKey
        $keys.Count | Should -Be 2
        $keys[0].KeyId | Should -Not -Be $keys[1].KeyId
        New-BackupEncryptionKey (Join-Path $dir 'c.key') -WhatIf
        Test-Path (Join-Path $dir 'c.key') | Should -BeFalse
    }
}
