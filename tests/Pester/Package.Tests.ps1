BeforeAll {
    . $PSScriptRoot/Common.ps1
    $repoName = 'BackupToolsTest' + [guid]::NewGuid().ToString('N').Substring(0, 6)
    Register-PSResourceRepository -Name $repoName -Uri $env:BACKUPTOOLS_TEST_PACKAGE_DIR -Trusted
}
AfterAll { Unregister-PSResourceRepository -Name $repoName }

Describe 'The .nupkg from build.ps1 -Task Package' {
    It 'is found in a local repository, saved by Save-PSResource, and the saved module works in a fresh session (libgit2 included)' {
        $version = (Import-PowerShellDataFile $script:ModulePath).ModuleVersion
        $found = Find-PSResource -Name BackupTools -Repository $repoName
        $found.Version.ToString() | Should -Be $version
        $dest = New-TestDirectory
        Save-PSResource -Name BackupTools -Repository $repoName -Path $dest -TrustRepository
        $saved = Join-Path $dest "BackupTools/$version/BackupTools.psd1"
        $saved | Should -Exist
        $policy = New-TestPolicy
        $out = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command "`$ErrorActionPreference='Stop'; Import-Module '$saved'; (Initialize-BackupRepository -Policy '$policy').ConfigHead" 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out | Out-String)
        ($out | Select-Object -Last 1) | Should -Match '^[0-9a-f]{40}$'
    }
}

Describe 'The Azure Automation zip from build.ps1 -Task Package' {
    It 'holds the module at its root and imports from there' {
        $zip = Join-Path $env:BACKUPTOOLS_TEST_PACKAGE_DIR 'BackupTools.zip'
        $zip | Should -Exist
        $dest = Join-Path (New-TestDirectory) 'BackupTools'
        Expand-Archive $zip -DestinationPath $dest
        Join-Path $dest 'BackupTools.psd1' | Should -Exist
        $out = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command "Import-Module '$dest'; (Get-Command -Module BackupTools).Count" 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out | Out-String)
        [int]($out | Select-Object -Last 1) | Should -Be @((Import-PowerShellDataFile $script:ModulePath).CmdletsToExport).Count
    }
}
