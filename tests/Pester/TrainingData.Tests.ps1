BeforeAll { . $PSScriptRoot/Common.ps1 }

# Training data: many small files go into packs; a part of a version restores on its own; a backup killed while it
# writes a pack leaves every kept version whole.
Describe 'Training data in packs: Backup-AiModel, Restore-AiModel -Path, a SIGKILL mid-pack' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $data = Join-Path $dir 'data'
        function New-Tree([string] $Root, [int] $Count, [int] $Seed) {
            $random = [Random]::new($Seed)
            for ($i = 0; $i -lt $Count; $i++) {
                $d = Join-Path $Root ('shard{0:D3}' -f ($i % 10))
                [IO.Directory]::CreateDirectory($d) | Out-Null
                $bytes = [byte[]]::new($random.Next(2048, 30KB)); $random.NextBytes($bytes)
                $p = Join-Path $d ('part-{0:D5}.jsonl' -f $i)
                [IO.File]::WriteAllBytes($p, $bytes)
                [IO.File]::SetLastWriteTimeUtc($p, [DateTime]::new(2026, 1, 1, 0, 0, 0, [DateTimeKind]::Utc).AddMinutes($i))
            }
        }
        New-Tree $data 400 1
        $big = [byte[]]::new(3MB); [Random]::new(9).NextBytes($big); [IO.File]::WriteAllBytes((Join-Path $data 'weights.bin'), $big)
        # Names a wildcard would misread: 'img[1].png' as a pattern matches img1.png, never itself.
        [IO.File]::WriteAllText((Join-Path $data 'img[1].png'), 'bracketed')
        [IO.File]::WriteAllText((Join-Path $data 'img1.png'), 'plain')
        # On Linux a backslash is a character of a name, not a separator.
        [IO.File]::WriteAllText([IO.Path]::Combine($data, 'back\slash.txt'), 'one name') # (Join-Path would turn it into a '/')
        $v1 = Backup-AiModel td -Path $data -Version 1 -Policy $policy
        $packs = Join-Path $dir 'repo/models/td/packs'
    }

    It 'stores the small files in a few packs and the large one as a blob of its own' {
        $v1.Status | Should -Be 'Succeeded'
        @(Get-ChildItem $packs -Filter *.pack).Count | Should -BeIn (1..3)
        @(Get-ChildItem (Join-Path $dir 'repo/models/td/blobs') -Recurse -File).Count | Should -Be 1
        (Test-AiModelBackup td -Policy $policy).Status | Should -Be 'Verified'
    }

    It 'restores only the files -Path names, byte for byte with their times, into a directory of their own' {
        $out = Join-Path $dir 'subset'
        $r = Restore-AiModel td 1 -Path 'shard003/*' -Destination $out -Policy $policy -Confirm:$false
        $r.Validated | Should -BeFalse
        $restored = @(Get-ChildItem $out -Recurse -File)
        $expected = @(Get-ChildItem (Join-Path $data 'shard003') -File)
        $restored.Count | Should -Be $expected.Count
        foreach ($f in $expected) {
            $back = Join-Path $out "shard003/$($f.Name)"
            (Get-FileHash $back).Hash | Should -Be (Get-FileHash $f.FullName).Hash
            (Get-Item $back).LastWriteTimeUtc | Should -Be $f.LastWriteTimeUtc
        }
        Test-Path (Join-Path $out 'weights.bin') | Should -BeFalse
    }

    It '-LiteralPath takes a name as it is (wildcard characters included), and a directory as everything beneath it' {
        $out = Join-Path $dir 'literal'
        Restore-AiModel td 1 -LiteralPath 'img[1].png', 'shard004' -Destination $out -Policy $policy -Confirm:$false | Out-Null
        Get-Content -LiteralPath (Join-Path $out 'img[1].png') | Should -Be 'bracketed'
        Test-Path -LiteralPath (Join-Path $out 'img1.png') | Should -BeFalse
        @(Get-ChildItem (Join-Path $out 'shard004') -File).Count | Should -Be @(Get-ChildItem (Join-Path $data 'shard004') -File).Count
        @(Get-ChildItem $out -Recurse -File).Count | Should -Be (1 + @(Get-ChildItem (Join-Path $data 'shard004') -File).Count)
        # The same name as a wildcard pattern is another file.
        $pattern = Join-Path $dir 'pattern'
        Restore-AiModel td 1 -Path 'img[1].png' -Destination $pattern -Policy $policy -Confirm:$false | Out-Null
        @(Get-ChildItem $pattern -File).Name | Should -Be 'img1.png'
        { Restore-AiModel td 1 -Path 'x' -LiteralPath 'y' -Destination (Join-Path $dir 'both') -Policy $policy -Confirm:$false } | Should -Throw '*not both*'
        $slash = Join-Path $dir 'slash'
        Restore-AiModel td 1 -LiteralPath 'back\slash.txt' -Destination $slash -Policy $policy -Confirm:$false | Out-Null
        @(Get-ChildItem $slash -Recurse -File).Name | Should -Be 'back\slash.txt'
        [IO.File]::ReadAllText([IO.Path]::Combine($slash, 'back\slash.txt')) | Should -Be 'one name'
    }

    It 'refuses -Path without -Destination, and a -Path that matches nothing' {
        { Restore-AiModel td 1 -Path 'shard003/*' -Policy $policy -Confirm:$false } | Should -Throw '*-LiteralPath restore part of a version*-Destination*'
        { Restore-AiModel td 1 -Path 'nope/*' -Destination (Join-Path $dir 'none') -Policy $policy -Confirm:$false } | Should -Throw '*No file of model td*matches*'
        Test-Path (Join-Path $dir 'none') | Should -BeFalse
        $busy = Join-Path $dir 'busy'
        New-Item -ItemType Directory $busy | Out-Null
        'keep me' | Set-Content (Join-Path $busy 'other.txt')
        { Restore-AiModel td 1 -Path 'shard003/*' -Destination $busy -Policy $policy -Confirm:$false } | Should -Throw '*is not empty*'
        Get-Content (Join-Path $busy 'other.txt') | Should -Be 'keep me'
    }

    It 'a backup killed (SIGKILL) while it writes packs leaves every kept version whole, and the next run clears what it left' {
        $more = Join-Path $dir 'more'
        New-Tree $more 6000 2
        Stop-ChildMidWrite "Backup-AiModel td -Path '$more' -Version 2 -Policy '$policy'" (Join-Path $packs 'tmp') 2MB |
            Should -BeTrue -Because 'the backup must still be writing a pack when it is killed'
        (Get-AiModelBackup td -Policy $policy).Version | Should -Be @('1') -Because 'no version is written before its packs are whole'
        (Test-AiModelBackup td -Policy $policy).Status | Should -Be 'Verified'
        $again = Backup-AiModel td -Path $more -Version 2 -Policy $policy
        $again.Status | Should -Be 'Succeeded'
        Get-ChildItem (Join-Path $packs 'tmp') -File | Should -BeNullOrEmpty
        Get-ChildItem $packs -Filter *.pack | Where-Object { -not (Test-Path ([IO.Path]::ChangeExtension($_.FullName, '.idx'))) } | Should -BeNullOrEmpty -Because 'a pack never indexed is removed'
        (Test-AiModelBackup td -Policy $policy | ForEach-Object Status | Sort-Object -Unique) | Should -Be 'Verified'
        $back = Join-Path $dir 'back2'
        $null = Restore-AiModel td 2 -Destination $back -Policy $policy -Confirm:$false
        foreach ($f in Get-ChildItem $more -Recurse -File | Select-Object -First 200) {
            (Get-FileHash (Join-Path $back ([IO.Path]::GetRelativePath($more, $f.FullName)))).Hash | Should -Be (Get-FileHash $f.FullName).Hash
        }
    }
}

Describe 'Retention killed (SIGKILL) while it repacks' {
    BeforeAll {
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $rp = Join-Path $dir 'rp'
        "`nmodels:`n  rp: { path: $rp, keep: 1 }" | Add-Content $policy
        $random = [Random]::new(7)
        for ($i = 0; $i -lt 6000; $i++) {
            $d = Join-Path $rp ('shard{0:D2}' -f ($i % 20))
            [IO.Directory]::CreateDirectory($d) | Out-Null
            $bytes = [byte[]]::new($random.Next(10KB, 30KB)); $random.NextBytes($bytes)
            [IO.File]::WriteAllBytes((Join-Path $d ('p{0:D5}.bin' -f $i)), $bytes)
        }
        $null = Backup-AiModel rp -Version 1 -Policy $policy
        # Version 2 rewrites two files in three: version 1's packs become mostly garbage, so retention repacks them.
        $all = @(Get-ChildItem $rp -Recurse -File | Sort-Object FullName)
        for ($i = 0; $i -lt $all.Count; $i++) {
            if ($i % 3 -eq 0) { continue }
            $bytes = [byte[]]::new($all[$i].Length); $random.NextBytes($bytes); [IO.File]::WriteAllBytes($all[$i].FullName, $bytes)
        }
        $v2 = Backup-AiModel rp -Version 2 -Policy $policy
        $packs = Join-Path $dir 'repo/models/rp/packs'
    }

    It 'leaves the kept version whole, and the next run finishes the job and clears what it left' {
        $v2.Status | Should -Be 'Succeeded'
        $before = (Get-ChildItem $packs -Filter *.pack | Measure-Object Length -Sum).Sum
        # Killed while a new pack of kept blobs is being written (the old pack not yet removed).
        Stop-ChildMidWrite "Remove-ExpiredBackup -Target rp -Policy '$policy' -Confirm:`$false" (Join-Path $packs 'tmp') 1MB |
            Should -BeTrue -Because 'retention must still be repacking when it is killed'
        Test-Path (Join-Path $dir 'repo/models/rp/collect.pending') | Should -BeTrue -Because 'the killed run had begun removing'
        # Version 1's manifest went first; version 2 has every blob, in an indexed pack, whole.
        (Get-AiModelBackup rp -Policy $policy).Version | Should -Be @('2')
        (Test-AiModelBackup rp -Policy $policy).Status | Should -Be 'Verified'
        $back = Join-Path $dir 'back'
        $null = Restore-AiModel rp 2 -Destination $back -Policy $policy -Confirm:$false
        foreach ($f in Get-ChildItem $rp -Recurse -File | Select-Object -First 300) {
            (Get-FileHash (Join-Path $back ([IO.Path]::GetRelativePath($rp, $f.FullName)))).Hash | Should -Be (Get-FileHash $f.FullName).Hash
        }
        # The next retention run, with no version left to remove, still collects what the killed one left (its marker),
        # and clears the killed writer's temporary pack.
        Remove-ExpiredBackup -Target rp -Policy $policy -Confirm:$false | Should -BeNullOrEmpty
        Test-Path (Join-Path $dir 'repo/models/rp/collect.pending') | Should -BeFalse
        Get-ChildItem (Join-Path $packs 'tmp') -File -ErrorAction Ignore | Should -BeNullOrEmpty
        Get-ChildItem $packs -Filter *.pack | Where-Object { -not (Test-Path ([IO.Path]::ChangeExtension($_.FullName, '.idx'))) } | Should -BeNullOrEmpty
        (Test-AiModelBackup rp -Policy $policy).Status | Should -Be 'Verified'
        (Get-ChildItem $packs -Filter *.pack | Measure-Object Length -Sum).Sum | Should -BeLessThan $before
    }
}
