BeforeAll { . $PSScriptRoot/Common.ps1 }

# The catalog index is a cache of the manifests: a publish killed at any moment, a deleted or damaged index, and the
# catalog still lists exactly the sets whose manifests are published.
Describe 'The catalog index against the manifests' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $sets = Join-Path $dir 'repo/redis/cache/snapshot'
        function Get-Published {
            Get-ChildItem $sets -Directory | Where-Object { $_.Name -notlike '*.partial' -and $_.Name -notlike '*.deleting' -and (Test-Path (Join-Path $_.FullName 'manifest.json')) } |
                ForEach-Object Name | Sort-Object
        }
        function Get-Listed { @(Get-DbBackup -Target cache -Policy $policy | ForEach-Object Id | Sort-Object) }
        1..3 | ForEach-Object { $null = Start-DbBackup cache -Policy $policy }
    }

    It 'lists what is published, through an index it keeps beside the manifests' {
        Get-Listed | Should -Be (Get-Published)
        Test-Path (Join-Path $dir 'repo/_catalog/redis/cache/snapshot.idx') | Should -BeTrue
    }

    It 'a backup killed (SIGKILL) at a random moment of publishing, again and again, never leaves a listed set that is not published' {
        $command = "Import-Module '$env:BACKUPTOOLS_TEST_MODULE'; while (`$true) { `$null = Start-DbBackup cache -Policy '$policy' -ErrorAction SilentlyContinue }"
        $random = [Random]::new(11)
        foreach ($round in 1..4) {
            $child = Start-Process ([Environment]::ProcessPath) -ArgumentList @((Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command', $command) -PassThru
            Start-Sleep -Milliseconds (2500 + $random.Next(0, 1500))
            Stop-Process -Id $child.Id -Force   # SIGKILL: no cleanup of any kind
            $child.WaitForExit()
            Get-Listed | Should -Be (Get-Published) -Because "round $round"
        }
        @(Get-Published).Count | Should -BeGreaterThan 4 -Because 'the child published sets between the kills'
    }

    It 'a deleted or damaged index is rebuilt from the manifests' {
        $index = Join-Path $dir 'repo/_catalog/redis/cache/snapshot.idx'
        Remove-Item $index
        Get-Listed | Should -Be (Get-Published)
        $bytes = [IO.File]::ReadAllBytes($index)
        $bytes[[int]($bytes.Length / 2)] = $bytes[[int]($bytes.Length / 2)] -bxor 0xFF
        [IO.File]::WriteAllBytes($index, $bytes)
        Get-Listed | Should -Be (Get-Published)
        [IO.File]::WriteAllBytes($index, [byte[]]::new(0))
        Get-Listed | Should -Be (Get-Published)
    }
}
