BeforeAll { . $PSScriptRoot/Common.ps1 }

Describe 'BackupTools module' {
    BeforeAll {
        $manifest = Import-PowerShellDataFile $script:ModulePath
        $module = Get-Module BackupTools
        $docs = Join-Path $PSScriptRoot '../../docs/en-US'
    }

    It 'declares PowerShell 7.4, Core only, and the version the build put in the folder name' {
        $manifest.PowerShellVersion | Should -Be '7.4'
        $manifest.CompatiblePSEditions | Should -Be @('Core')
        Split-Path (Split-Path $script:ModulePath) -Leaf | Should -Be $manifest.ModuleVersion
        $module.Version | Should -Be ([version]$manifest.ModuleVersion)
    }

    It 'exports exactly the cmdlets its manifest lists' {
        @($module.ExportedCmdlets.Keys | Sort-Object) | Should -Be @($manifest.CmdletsToExport | Sort-Object)
    }

    It 'uses only approved verbs' {
        $approved = (Get-Verb).Verb
        foreach ($c in $module.ExportedCmdlets.Keys) { ($c -split '-')[0] | Should -BeIn $approved }
    }

    It '<_> has help with a synopsis, a description and at least one example, and a docs page' -ForEach @((Import-PowerShellDataFile $env:BACKUPTOOLS_TEST_MODULE).CmdletsToExport) {
        $help = Get-Help $_ -Full
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis.Trim() | Should -Not -BeLike "$_ *" -Because 'an auto-generated synopsis means the MAML help is missing'
        ($help.description.Text -join '') | Should -Not -BeNullOrEmpty
        @($help.examples.example).Count | Should -BeGreaterThan 0
        Join-Path $docs "$_.md" | Should -Exist
    }

    It '<_> declares an output type and a default parameter set' -ForEach @((Import-PowerShellDataFile $env:BACKUPTOOLS_TEST_MODULE).CmdletsToExport) {
        $cmd = Get-Command $_
        $cmd.OutputType | Should -Not -BeNullOrEmpty
        $cmd.DefaultParameterSet | Should -Not -BeNullOrEmpty
    }

    It 'loads the engine and its packages into a private load context, not the default one' {
        # Touch the engine so it is loaded.
        $null = Test-BackupPolicy -Policy (New-TestPolicy)
        $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'BackupTools.Engine' }
        $engine | Should -Not -BeNullOrEmpty
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($engine).Name | Should -Be 'BackupTools.Engine'
        $yaml = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'YamlDotNet' }
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($yaml).Name | Should -Be 'BackupTools.Engine'
        $model = [BackupTools.Model.BackupPolicy].Assembly
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($model) | Should -Be ([System.Runtime.Loader.AssemblyLoadContext]::Default)
    }
}
