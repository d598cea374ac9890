<#
.SYNOPSIS
    Turns the platyPS-format markdown in docs/en-US into MAML (BackupTools.dll-Help.xml) so Get-Help works offline.
.DESCRIPTION
    platyPS is not served where we build, so this reads the parts of platyPS schema 2.0.0 that Get-Help shows:
    SYNOPSIS, DESCRIPTION, EXAMPLES, PARAMETERS (with their yaml blocks), INPUTS, OUTPUTS, NOTES.
    Where platyPS is installed, New-ExternalHelp on the same files gives the same help.
#>
param([Parameter(Mandatory)][string] $DocsPath, [Parameter(Mandatory)][string] $OutputPath)
$ErrorActionPreference = 'Stop'

function Split-Sections([string] $text, [string] $level) {
    $sections = [ordered]@{}
    $name = $null
    foreach ($line in $text -split "`n") {
        if ($line -match "^$level (.+?)\s*$") { $name = $Matches[1]; $sections[$name] = [System.Text.StringBuilder]::new(); continue }
        if ($name) { [void]$sections[$name].AppendLine($line.TrimEnd("`r")) }
    }
    $result = [ordered]@{}
    foreach ($k in $sections.Keys) { $result[$k] = $sections[$k].ToString().Trim() }
    $result
}

function Add-Paragraphs($xml, $parent, [string] $text) {
    $desc = $xml.CreateElement('maml', 'description', $ns.maml)
    foreach ($para in ($text -split "\n\s*\n")) {
        if (-not $para.Trim()) { continue }
        $p = $xml.CreateElement('maml', 'para', $ns.maml); $p.InnerText = $para.Trim(); [void]$desc.AppendChild($p)
    }
    [void]$parent.AppendChild($desc)
}

$ns = @{ maml = 'http://schemas.microsoft.com/maml/2004/10'; command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'; dev = 'http://schemas.microsoft.com/maml/dev/2004/10' }
$xml = [xml]'<?xml version="1.0" encoding="utf-8"?><helpItems schema="maml" xmlns="http://msh"/>'
foreach ($file in Get-ChildItem $DocsPath -Filter '*-*.md' | Sort-Object Name) {
    $text = (Get-Content $file.FullName -Raw) -replace '(?s)^---.*?---\s*', ''
    $s = Split-Sections $text '##'
    $verb, $noun = $file.BaseName -split '-', 2
    $cmd = $xml.CreateElement('command', 'command', $ns.command)
    foreach ($a in $ns.Keys) { $cmd.SetAttribute("xmlns:$a", $ns[$a]) }
    $details = $xml.CreateElement('command', 'details', $ns.command)
    foreach ($pair in @(@('name', $file.BaseName), @('verb', $verb), @('noun', $noun))) {
        $e = $xml.CreateElement('command', $pair[0], $ns.command); $e.InnerText = $pair[1]; [void]$details.AppendChild($e)
    }
    Add-Paragraphs $xml $details $s['SYNOPSIS']
    [void]$cmd.AppendChild($details)
    Add-Paragraphs $xml $cmd $s['DESCRIPTION']

    $params = $xml.CreateElement('command', 'parameters', $ns.command)
    if ($s.Contains('PARAMETERS')) {
        $ps = Split-Sections $s['PARAMETERS'] '###'
        foreach ($pn in $ps.Keys) {
            if ($pn -eq 'CommonParameters') { continue }
            $body = $ps[$pn]
            $yaml = if ($body -match '(?s)```yaml\s*(.*?)```') { $Matches[1] } else { '' }
            $prose = ($body -replace '(?s)```yaml.*?```', '').Trim()
            $get = { param($k) if ($yaml -match "(?m)^${k}:\s*(.*)$") { $Matches[1].Trim() } else { '' } }
            $param = $xml.CreateElement('command', 'parameter', $ns.command)
            $param.SetAttribute('required', [string](& $get 'Required') -eq 'True' ? 'true' : 'false')
            $param.SetAttribute('position', ((& $get 'Position') -replace '^$', 'named'))
            $param.SetAttribute('pipelineInput', (& $get 'Accept pipeline input'))
            $param.SetAttribute('globbing', ((& $get 'Accept wildcard characters') -eq 'True' ? 'true' : 'false'))
            $n = $xml.CreateElement('maml', 'name', $ns.maml); $n.InnerText = $pn.TrimStart('-'); [void]$param.AppendChild($n)
            Add-Paragraphs $xml $param $prose
            $t = $xml.CreateElement('dev', 'type', $ns.dev)
            $tn = $xml.CreateElement('maml', 'name', $ns.maml); $tn.InnerText = (& $get 'Type'); [void]$t.AppendChild($tn); [void]$param.AppendChild($t)
            $dv = $xml.CreateElement('dev', 'defaultValue', $ns.dev); $dv.InnerText = (& $get 'Default value'); [void]$param.AppendChild($dv)
            [void]$params.AppendChild($param)
        }
    }
    [void]$cmd.AppendChild($params)

    foreach ($kind in 'INPUTS', 'OUTPUTS') {
        if (-not $s.Contains($kind)) { continue }
        $outer = $xml.CreateElement('command', ($kind -eq 'INPUTS' ? 'inputTypes' : 'returnValues'), $ns.command)
        foreach ($entry in (Split-Sections $s[$kind] '###').GetEnumerator()) {
            $inner = $xml.CreateElement('command', ($kind -eq 'INPUTS' ? 'inputType' : 'returnValue'), $ns.command)
            $t = $xml.CreateElement('dev', 'type', $ns.dev)
            $tn = $xml.CreateElement('maml', 'name', $ns.maml); $tn.InnerText = $entry.Key; [void]$t.AppendChild($tn); [void]$inner.AppendChild($t)
            Add-Paragraphs $xml $inner $entry.Value
            [void]$outer.AppendChild($inner)
        }
        [void]$cmd.AppendChild($outer)
    }
    if ($s.Contains('NOTES')) {
        $alerts = $xml.CreateElement('maml', 'alertSet', $ns.maml)
        $alert = $xml.CreateElement('maml', 'alert', $ns.maml)
        $p = $xml.CreateElement('maml', 'para', $ns.maml); $p.InnerText = $s['NOTES']; [void]$alert.AppendChild($p); [void]$alerts.AppendChild($alert)
        [void]$cmd.AppendChild($alerts)
    }
    $examples = $xml.CreateElement('command', 'examples', $ns.command)
    if ($s.Contains('EXAMPLES')) {
        foreach ($ex in (Split-Sections $s['EXAMPLES'] '###').GetEnumerator()) {
            $example = $xml.CreateElement('command', 'example', $ns.command)
            $title = $xml.CreateElement('maml', 'title', $ns.maml); $title.InnerText = "-------------------------- $($ex.Key) --------------------------"; [void]$example.AppendChild($title)
            $code = if ($ex.Value -match '(?s)```(?:powershell)?\s*(.*?)```') { $Matches[1].Trim() } else { '' }
            $c = $xml.CreateElement('dev', 'code', $ns.dev); $c.InnerText = $code; [void]$example.AppendChild($c)
            $remarks = $xml.CreateElement('dev', 'remarks', $ns.dev)
            $p = $xml.CreateElement('maml', 'para', $ns.maml); $p.InnerText = ($ex.Value -replace '(?s)```.*?```', '').Trim(); [void]$remarks.AppendChild($p)
            [void]$example.AppendChild($remarks)
            [void]$examples.AppendChild($example)
        }
    }
    [void]$cmd.AppendChild($examples)
    [void]$xml.DocumentElement.AppendChild($xml.ImportNode($cmd, $true))
}
$xml.Save($OutputPath)
