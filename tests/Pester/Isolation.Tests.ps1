BeforeAll {
    . $PSScriptRoot/Common.ps1
    $packages = $env:BACKUPTOOLS_TEST_PACKAGES
    $oldLogging = Join-Path $packages 'microsoft.extensions.logging.abstractions/8.0.0/lib/net8.0/Microsoft.Extensions.Logging.Abstractions.dll'
    $oldYaml = Join-Path $packages 'yamldotnet/13.7.1/lib/net7.0/YamlDotNet.dll'

    function Invoke-ChildSession([string] $Script) {
        # A fresh pwsh: what a sysadmin's session looks like after another module loaded older copies of our packages.
        $file = Join-Path (New-TestDirectory) 'child.ps1'
        Set-Content -Path $file -Value $Script
        $out = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -File $file 2>&1
        [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out | Out-String) }
    }
}

Describe 'Dependency isolation' {
    It 'the old assemblies the test preloads exist' {
        $oldLogging | Should -Exist
        $oldYaml | Should -Exist
    }

    It 'a session that already loaded older MEL.Abstractions 8.0 and YamlDotNet 13 imports BackupTools and uses MySqlConnector, the Elastic client, LibGit2Sharp and YamlDotNet, also after Import-Module -Force' {
        $policy = New-TestPolicy
        $result = Invoke-ChildSession @"
`$ErrorActionPreference = 'Stop'
Add-Type -Path '$oldLogging'
Add-Type -Path '$oldYaml'
`$null = [Microsoft.Extensions.Logging.Abstractions.NullLogger]::Instance
`$null = [YamlDotNet.Serialization.DeserializerBuilder]::new().Build()
Import-Module '$($script:ModulePath)'
`$first = Test-BackupTarget -Policy '$policy' -TimeoutSec 10
`$repo = Initialize-BackupRepository -Policy '$policy'
Import-Module '$($script:ModulePath)' -Force
`$second = Test-BackupTarget -Policy '$policy' -TimeoutSec 10
`$loaded = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -in 'YamlDotNet', 'Microsoft.Extensions.Logging.Abstractions' } |
    ForEach-Object { '{0} {1} {2}' -f `$_.GetName().Name, `$_.GetName().Version.Major, [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$_).Name }
[pscustomobject]@{
    First = @(`$first | ForEach-Object { '{0}={1}' -f `$_.Engine, `$_.Reachable })
    Second = @(`$second | ForEach-Object { '{0}={1}' -f `$_.Engine, `$_.Reachable })
    Errors = @(`$first + `$second | Where-Object Error | ForEach-Object Error)
    ConfigHead = `$repo.ConfigHead
    Loaded = @(`$loaded | Sort-Object)
} | ConvertTo-Json -Compress
"@
        $result.ExitCode | Should -Be 0 -Because $result.Output
        $json = ($result.Output -split "`n" | Where-Object { $_ -like '{*' } | Select-Object -Last 1) | ConvertFrom-Json
        $json.Errors | Should -BeNullOrEmpty
        $json.First | Should -Be @('MariaDb=True', 'Redis=True', 'Elasticsearch=True')
        $json.Second | Should -Be @('MariaDb=True', 'Redis=True', 'Elasticsearch=True')
        $json.ConfigHead | Should -Match '^[0-9a-f]{40}$'
        # Both copies live side by side: the old ones in the default context, ours in the private one.
        $json.Loaded | Should -Contain 'YamlDotNet 13 Default'
        $json.Loaded | Should -Contain 'YamlDotNet 18 BackupTools.Engine'
        $json.Loaded | Should -Contain 'Microsoft.Extensions.Logging.Abstractions 8 Default'
    }

    It 'control: without the private context the same preload makes our YamlDotNet unloadable (so the test above can fail)' {
        $deps = Join-Path (Split-Path $script:ModulePath) 'deps'
        $result = Invoke-ChildSession @"
Add-Type -Path '$oldYaml'
`$null = [YamlDotNet.Serialization.DeserializerBuilder]::new().Build()
try {
    Add-Type -Path '$deps/YamlDotNet.dll'
    'NO-CONFLICT'
} catch { 'CONFLICT: ' + `$_.Exception.GetBaseException().GetType().Name + ': ' + `$_.Exception.GetBaseException().Message }
"@
        $result.Output | Should -Match 'CONFLICT: FileLoadException'
    }
}
