BeforeAll { . $PSScriptRoot/Common.ps1 }

# Get-BackupStatus -Report rendered by a real headless Chromium (through chromedriver's WebDriver API): the page a
# person or an auditor opens must draw its charts, not merely contain markup.
Describe 'Get-BackupStatus -Report in headless Chromium' {
    BeforeAll {
        $chromium = @('/usr/lib/chromium/chromium', (Get-Command chromium -ErrorAction SilentlyContinue).Source) | Where-Object { $_ -and (Test-Path $_) } | Select-Object -First 1
        $chromium | Should -Not -BeNullOrEmpty -Because 'Bootstrap installs chromium'
        $driverProgram = (Get-Command chromedriver -ErrorAction Stop).Source
        $dir = New-TestDirectory
        $policy = New-TestPolicy $dir
        $model = Join-Path $dir 'models/llm'
        New-Item -ItemType Directory $model | Out-Null
        "`nmodels:`n  llm: { path: $model, rpo: 1d }`nplatform:`n  targets: [cache]`n  models: [llm]`n  rto: 1h" | Add-Content $policy
        $null = Start-DbBackup cache -Policy $policy
        [IO.File]::WriteAllBytes((Join-Path $model 'weights.bin'), [byte[]](1..64))
        $null = Backup-AiModel llm -Policy $policy
        $null = Start-DbBackup cache -Policy $policy
        $drill = Test-Platform -Policy $policy
        $failed = Test-Platform -Policy $policy -ValidationScript { $false } -ErrorAction SilentlyContinue
        $report = Join-Path $dir 'www/status.html'
        New-Item -ItemType Directory (Split-Path $report) | Out-Null
        $file = Get-BackupStatus -Policy $policy -Report $report -WarningAction SilentlyContinue

        $port = [BackupTools.TestServers.FreePort]::Next()
        $driver = Start-Process $driverProgram -ArgumentList "--port=$port" -PassThru -RedirectStandardOutput (Join-Path $dir 'chromedriver.log')
        $base = "http://127.0.0.1:$port"
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ($true) {
            try { if ((Invoke-RestMethod "$base/status").value.ready) { break } } catch { }
            if ([DateTime]::UtcNow -gt $deadline) { throw 'chromedriver did not start' }
            Start-Sleep -Milliseconds 100
        }
        $profile = Join-Path $dir 'chromium-profile'
        $capabilities = @{ capabilities = @{ alwaysMatch = @{ browserName = 'chrome'; 'goog:chromeOptions' = @{
            binary = $chromium; args = @('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', "--user-data-dir=$profile", '--window-size=1100,2400') } } } }
        $session = (Invoke-RestMethod -Method Post "$base/session" -Body ($capabilities | ConvertTo-Json -Depth 8) -ContentType 'application/json').value.sessionId
        function Invoke-Page([string] $script) {
            (Invoke-RestMethod -Method Post "$base/session/$session/execute/sync" -Body (@{ script = $script; args = @() } | ConvertTo-Json) -ContentType 'application/json').value
        }
        $null = Invoke-RestMethod -Method Post "$base/session/$session/url" -Body (@{ url = [string]"file://$report" } | ConvertTo-Json) -ContentType 'application/json'
    }
    AfterAll {
        if ($session) { try { $null = Invoke-RestMethod -Method Delete "$base/session/$session" } catch { } }
        if ($driver) { Stop-Process -Id $driver.Id -ErrorAction SilentlyContinue }
    }

    It 'writes one page that needs nothing from the network' {
        $file | Should -BeOfType ([IO.FileInfo])
        $file.FullName | Should -Be $report
        $html = Get-Content -Raw $report
        $html | Should -Match '^<!DOCTYPE html>'
        $html | Should -Not -Match '<script' -Because 'a static page: no script'
        [regex]::Matches($html, '(?:src|href)\s*=\s*"([^"]+)"') | ForEach-Object { $_.Groups[1].Value } | Should -BeNullOrEmpty -Because 'no CDN, no link to load'
        $drill.Succeeded | Should -BeTrue -Because $drill.Error
        $failed.Succeeded | Should -BeFalse
    }

    It 'Chromium draws the storage, window and drill charts: every chart has paths with a real length and area' {
        $charts = Invoke-Page @'
const out = {};
for (const id of ['storage-chart', 'window-chart', 'drill-chart']) {
  const svg = document.getElementById(id);
  if (!svg) { out[id] = null; continue; }
  const box = svg.getBoundingClientRect();
  out[id] = { width: box.width, height: box.height,
    paths: [...svg.querySelectorAll('path')].map(p => ({ cls: p.getAttribute('class'), length: p.getTotalLength(), w: p.getBBox().width, h: p.getBBox().height, fill: getComputedStyle(p).fill })) };
}
return out;
'@
        foreach ($id in 'storage-chart', 'window-chart', 'drill-chart') {
            $charts.$id | Should -Not -BeNullOrEmpty -Because "$id is on the page"
            $charts.$id.width | Should -BeGreaterThan 300
            $charts.$id.height | Should -BeGreaterThan 50
            $drawn = @($charts.$id.paths | Where-Object { $_.cls -ne 'axis' -and $_.length -gt 0 })
            $drawn.Count | Should -BeGreaterThan 0 -Because "$id draws more than its axes"
        }
        # The storage line spans the chart; the window bars have an area; the drills are two bars, one green and one red.
        ($charts.'storage-chart'.paths | Where-Object cls -eq 'series').w | Should -BeGreaterThan 300
        @($charts.'window-chart'.paths | Where-Object { $_.cls -eq 'bar' -and $_.w -gt 0 -and $_.h -gt 0 }).Count | Should -Be 3 -Because 'cache, llm and the platform each have a window'
        $bars = @($charts.'drill-chart'.paths | Where-Object cls -eq 'bar')
        $bars.Count | Should -Be 2
        ($bars | ForEach-Object fill | Sort-Object -Unique).Count | Should -Be 2 -Because 'a passed and a failed drill differ in colour'
        @($charts.'drill-chart'.paths | Where-Object cls -eq 'objective').Count | Should -Be 1 -Because 'the platform has an rto'
    }

    It 'shows the tables a person reads, with what is wrong' {
        $text = Invoke-Page 'return document.body.innerText;'
        $text | Should -Match 'Recovery objectives'
        $text | Should -Match 'platform \(platform\)\s+DrillFailed'
        $text | Should -Match 'validation of the whole platform'
        $text | Should -Match 'cache\s+snapshot\s+Ok'
    }

    It '-WhatIf writes no report' {
        $other = Join-Path $dir 'www/whatif.html'
        Get-BackupStatus -Policy $policy -Report $other -WhatIf -WarningAction SilentlyContinue
        Test-Path $other | Should -BeFalse
    }
}
