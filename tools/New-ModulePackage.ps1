<#
.SYNOPSIS
    Packs the built module folder into BackupTools.<version>.nupkg, the layout Install-PSResource and Install-Module
    take from a local (file-share) repository: the module's files at the package root, tagged PSModule.
#>
param([Parameter(Mandatory)][string] $ModuleDirectory, [Parameter(Mandatory)][string] $OutputDirectory)
$ErrorActionPreference = 'Stop'
$data = Import-PowerShellDataFile (Join-Path $ModuleDirectory 'BackupTools.psd1')
$staging = Join-Path ([IO.Path]::GetTempPath()) ("bt-pack-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory $staging | Out-Null
try {
    $cmdletTags = ($data.CmdletsToExport | ForEach-Object { "PSCmdlet_$_ PSCommand_$_" }) -join ' '
    $nuspec = Join-Path $staging 'BackupTools.nuspec'
    @"
<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd">
  <metadata>
    <id>BackupTools</id>
    <version>$($data.ModuleVersion)</version>
    <authors>$([Security.SecurityElement]::Escape($data.Author))</authors>
    <description>$([Security.SecurityElement]::Escape($data.Description))</description>
    <license type="expression">MIT</license>
    <tags>PSModule PSEdition_Core $($data.PrivateData.PSData.Tags -join ' ') $cmdletTags</tags>
  </metadata>
  <files>
    <file src="$ModuleDirectory/**" target="" />
  </files>
</package>
"@ | Set-Content $nuspec
    # An empty project lets 'dotnet pack' build a standard nupkg from the nuspec (no nuget.exe needed).
    $proj = Join-Path $staging 'pack.csproj'
    @'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net8.0</TargetFramework><IncludeBuildOutput>false</IncludeBuildOutput>
  <NoWarn>NU5100;NU5110;NU5111;NU5119;NU5128</NoWarn><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
</Project>
'@ | Set-Content $proj
    # Keep the repository's Directory.*.props away from this throwaway project.
    '<Project></Project>' | Set-Content (Join-Path $staging 'Directory.Build.props')
    '<Project></Project>' | Set-Content (Join-Path $staging 'Directory.Packages.props')
    & dotnet pack $proj -p:NuspecFile=$nuspec -o $OutputDirectory --nologo -v quiet -clp:ErrorsOnly
    if ($LASTEXITCODE -ne 0) { throw "dotnet pack failed ($LASTEXITCODE)." }
    $pkg = Join-Path $OutputDirectory "BackupTools.$($data.ModuleVersion).nupkg"
    Write-Host "Package: $pkg"
}
finally { Remove-Item $staging -Recurse -Force }
