<#
.SYNOPSIS
    Turns docs/en-US/about_*.md into the about_*.help.txt files Get-Help reads.
.DESCRIPTION
    The markdown is a heading per section ("## LONG DESCRIPTION") with the section's text in a ```text block, so it
    reads on a web page exactly as it does at the prompt. Each heading becomes a line of its own and the text is
    indented by four spaces, the layout of PowerShell's own about topics.
#>
param([Parameter(Mandatory)][string] $DocsPath, [Parameter(Mandatory)][string] $OutputPath)
$ErrorActionPreference = 'Stop'
New-Item -ItemType Directory -Force $OutputPath | Out-Null
foreach ($file in Get-ChildItem $DocsPath -Filter 'about_*.md') {
    $out = [System.Text.StringBuilder]::new()
    $inBlock = $false
    $sections = 0
    foreach ($line in (Get-Content $file.FullName)) {
        if ($inBlock) {
            if ($line -eq '```') { $inBlock = $false; continue }
            [void]$out.AppendLine($(if ($line.Length -gt 0) { '    ' + $line } else { '' }))
        }
        elseif ($line -match '^## (.+)$') {
            if ($sections++ -gt 0) { [void]$out.AppendLine() }
            [void]$out.AppendLine($Matches[1].Trim())
        }
        elseif ($line -eq '```text') { $inBlock = $true }
        elseif ($line.Trim() -and $line -notmatch '^# ') {
            throw "$($file.Name): '$line' is outside a ``````text block; about topics keep their text in those blocks."
        }
    }
    if ($sections -eq 0) { throw "$($file.Name) has no '## ' sections." }
    $target = Join-Path $OutputPath ($file.BaseName + '.help.txt')
    [IO.File]::WriteAllText($target, $out.ToString().Replace("`r`n", "`n"))
}
