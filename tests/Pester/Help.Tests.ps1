BeforeAll {
    . $PSScriptRoot/Common.ps1
    $script:docs = Join-Path $PSScriptRoot '../../docs/en-US'
    $script:common = [System.Management.Automation.Internal.CommonParameters].GetProperties().Name +
        [System.Management.Automation.Internal.ShouldProcessParameters].GetProperties().Name

    # The PARAMETERS section of a platyPS page: name -> the fields of its yaml block.
    function Get-DocParameter([string] $Cmdlet) {
        $text = Get-Content (Join-Path $script:docs "$Cmdlet.md") -Raw
        $section = ($text -split '(?m)^## PARAMETERS\s*$')[1] -split '(?m)^## ' | Select-Object -First 1
        $result = @{}
        foreach ($block in $section -split '(?m)^### ') {
            if ($block -notmatch '^-(\w+)') { continue }
            $name = $Matches[1]
            $fields = @{}
            foreach ($line in $block -split "`n") { if ($line -match '^(Type|Required|Accept pipeline input|Parameter Sets):\s*(.*?)\s*$') { $fields[$Matches[1]] = $Matches[2] } }
            $result[$name] = $fields
        }
        $result
    }
}

Describe 'Help for <_>' -ForEach @((Import-PowerShellDataFile $env:BACKUPTOOLS_TEST_MODULE).CmdletsToExport) {
    BeforeAll {
        $name = $_
        $help = Get-Help $name -Full
        $command = Get-Command $name
        $own = $command.Parameters.Values | Where-Object { $_.Name -notin $script:common }
        $doc = Get-DocParameter $name
    }

    It 'has a synopsis, a description, a description for every parameter and at least two examples' {
        $help.Synopsis.Trim() | Should -Not -BeLike "$name *"
        ($help.description.Text -join '') | Should -Not -BeNullOrEmpty
        foreach ($p in $own) {
            $entry = $help.parameters.parameter | Where-Object name -eq $p.Name
            ($entry.description.Text -join '') | Should -Not -BeNullOrEmpty -Because "-$($p.Name) needs a description"
        }
        @($help.examples.example).Count | Should -BeGreaterOrEqual 2
        @($help.examples.example | Where-Object { ($_.code -join "`n") -match '\|' }).Count | Should -BeGreaterThan 0 -Because 'one example shows the cmdlet in a pipeline'
    }

    It 'documents exactly the real parameters, with their type, whether mandatory, and pipeline input' {
        @($doc.Keys | Where-Object { $_ -notin 'WhatIf', 'Confirm' } | Sort-Object) | Should -Be @($own.Name | Sort-Object)
        foreach ($p in $own) {
            $d = $doc[$p.Name]
            $type = [Nullable]::GetUnderlyingType($p.ParameterType) ?? $p.ParameterType # a [DateTimeOffset?] is written DateTimeOffset
            $d.Type | Should -Be $type.Name -Because "the type of -$($p.Name)"
            $mandatory = $p.ParameterSets.Values.IsMandatory -contains $true
            $d.Required | Should -Be $(if ($mandatory) { 'True' } else { 'False' }) -Because "whether -$($p.Name) is mandatory"
            $byValue = $p.ParameterSets.Values.ValueFromPipeline -contains $true
            $byName = $p.ParameterSets.Values.ValueFromPipelineByPropertyName -contains $true
            $kinds = @(if ($byName) { 'ByPropertyName' }; if ($byValue) { 'ByValue' })
            $expected = if ($kinds) { "True ($($kinds -join ', '))" } else { 'False' }
            $d.'Accept pipeline input' | Should -Be $expected -Because "pipeline input of -$($p.Name)"
        }
    }

    It 'has examples whose code parses and calls our cmdlets only with parameters they have' {
        foreach ($example in $help.examples.example) {
            $errors = $null
            $ast = [System.Management.Automation.Language.Parser]::ParseInput(($example.code -join "`n"), [ref]$null, [ref]$errors)
            $errors | Should -BeNullOrEmpty -Because $example.title
            foreach ($call in $ast.FindAll({ $args[0] -is [System.Management.Automation.Language.CommandAst] }, $true)) {
                $target = Get-Command $call.GetCommandName() -Module BackupTools -ErrorAction Ignore
                if (-not $target) { continue }
                $names = @($target.Parameters.Keys) + @($target.Parameters.Values.Aliases)
                foreach ($p in $call.CommandElements | Where-Object { $_ -is [System.Management.Automation.Language.CommandParameterAst] }) {
                    @($names | Where-Object { $_ -like "$($p.ParameterName)*" }).Count | Should -BeGreaterThan 0 -Because "$($example.title): $($target.Name) has no -$($p.ParameterName)"
                }
            }
        }
    }
}

Describe 'About topics' {
    It '<_> is found by Get-Help' -ForEach 'about_BackupTools', 'about_BackupTools_Policy', 'about_BackupTools_PointInTimeRestore', 'about_BackupTools_Retention', 'about_BackupTools_Alerts', 'about_BackupTools_Offsite', 'about_BackupTools_Platform' {
        (Get-Help $_ | Out-String) | Should -Match ([regex]::Escape($_))
    }
}

Describe 'about_BackupTools_Policy covers every key the parser accepts' {
    BeforeAll {
        $text = Get-Content (Join-Path $PSScriptRoot '../../docs/en-US/about_BackupTools_Policy.md') -Raw
        # The parser lists the keys it accepts when it meets an unknown one: ask it, section by section, so this test
        # follows the parser and not a copy of its lists.
        function Get-AcceptedKey([string] $Yaml) {
            $file = Join-Path (New-TestDirectory) 'policy.yml'
            Set-Content $file $Yaml
            $null = Test-BackupPolicy -Policy $file -ErrorAction SilentlyContinue -ErrorVariable problems
            $line = @($problems | ForEach-Object ToString) | Where-Object { $_ -match 'unknown key; expected one of: (.*)$' } | Select-Object -First 1
            $line | Should -Not -BeNullOrEmpty -Because "the parser names the accepted keys for: $Yaml"
            ($line -replace '.*expected one of: ', '') -split ', '
        }
    }

    It 'documents the keys of <Section>' -ForEach @(
        @{ Section = 'the root'; Yaml = "repository: /b`ntargets: {}`nbogus: 1" }
        @{ Section = 'a target'; Yaml = "repository: /b`ntargets:`n  t: { engine: redis, host: h, port: 1, bogus: 1 }" }
        @{ Section = 'storage'; Yaml = "repository: /b`ntargets: {}`nstorage: { bogus: 1 }" }
        @{ Section = 'alerts'; Yaml = "repository: /b`ntargets: {}`nalerts: { bogus: 1 }" }
        @{ Section = 'config'; Yaml = "repository: /b`ntargets: {}`nconfig: { bogus: 1 }" }
        @{ Section = 'models'; Yaml = "repository: /b`ntargets: {}`nmodels: { m: { path: /m, bogus: 1 } }" }
        @{ Section = 'metrics'; Yaml = "repository: /b`ntargets: {}`nmetrics: { path: /m, bogus: 1 }" }
        @{ Section = 'the slack channel'; Yaml = "repository: /b`ntargets: {}`nalerts: { channels: { slack: { bogus: 1 } } }" }
        @{ Section = 'the email channel'; Yaml = "repository: /b`ntargets: {}`nalerts: { channels: { email: { bogus: 1 } } }" }
        @{ Section = 'the sms channel'; Yaml = "repository: /b`ntargets: {}`nalerts: { channels: { sms: { bogus: 1 } } }" }
        @{ Section = 'the webhook channel'; Yaml = "repository: /b`ntargets: {}`nalerts: { channels: { webhook: { bogus: 1 } } }" }
        @{ Section = 'an azureBlob offsite'; Yaml = "repository: /b`ntargets: {}`noffsite: { a: { kind: azureBlob, bogus: 1 } }" }
        @{ Section = 'an s3 offsite'; Yaml = "repository: /b`ntargets: {}`noffsite: { a: { kind: s3, bogus: 1 } }" }
        @{ Section = 'encryption'; Yaml = "repository: /b`ntargets: {}`nencryption: { bogus: 1 }" }
    ) {
        foreach ($key in Get-AcceptedKey $Yaml) {
            $text | Should -Match "\b$([regex]::Escape($key))\b" -Because "the key '$key' of $Section must be described"
        }
    }
}
