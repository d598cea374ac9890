using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using BackupTools.Commands;
using BackupTools.Engine.Processes;

namespace BackupTools.Tests;

/// <summary>A cmdlet built on the module's async base that runs a long child process tree through the process runner.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "LongChildForTest")]
public sealed class InvokeLongChildForTestCommand : AsyncPSCmdlet
{
    [Parameter(Mandatory = true)]
    public string PidFile { get; set; } = "";

    protected override async Task ProcessRecordAsync()
    {
        WriteVerboseAsync("starting the child");
        await ProcessRunner.RunAsync(
            new ProcessSpec("sh", ["-c", $"sleep 300 & echo $! > {PidFile}; sleep 300 & echo $! >> {PidFile}; echo $$ >> {PidFile}; wait"]),
            null, CancelToken);
        WriteObjectAsync("finished");
    }
}

/// <summary>Writes objects and asks ShouldProcess from the worker thread; proves they reach the pipeline thread.</summary>
[Cmdlet(VerbsDiagnostic.Test, "MarshallingForTest", SupportsShouldProcess = true)]
public sealed class TestMarshallingForTestCommand : AsyncPSCmdlet
{
    protected override async Task ProcessRecordAsync()
    {
        for (var i = 0; i < 100; i++)
        {
            await Task.Yield();
            if (await ShouldProcessAsync($"item {i}", "Touch")) WriteObjectAsync(i);
            WriteProgressAsync(new ProgressRecord(1, "Test", $"{i}") { PercentComplete = i });
        }
    }
}

public sealed class StopTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static PowerShell HostWith<T>(string name)
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.Commands.Add(new SessionStateCmdletEntry(name, typeof(T), null));
        var ps = PowerShell.Create(iss);
        return ps;
    }

    [Fact]
    public async Task StopRequestEndsTheCmdletWithinTwoSecondsAndLeavesNoChildProcess()
    {
        using var dir = new TempDirectory();
        var pidFile = dir.Combine("pids");
        using var ps = HostWith<InvokeLongChildForTestCommand>("Invoke-LongChildForTest");
        ps.AddCommand("Invoke-LongChildForTest").AddParameter("PidFile", pidFile);
        var invocation = ps.BeginInvoke();
        await ProcessRunnerTests.WaitUntil(() => File.Exists(pidFile) && File.ReadAllLines(pidFile).Length == 3);
        var pids = File.ReadAllLines(pidFile).Select(int.Parse).ToArray();
        Assert.All(pids, p => Assert.True(ProcessRunnerTests.Alive(p)));

        var clock = Stopwatch.StartNew();
        ps.Stop(); // what Ctrl+C and a runbook stop do
        Assert.Throws<PipelineStoppedException>(() => ps.EndInvoke(invocation));
        clock.Stop();
        output.WriteLine($"stopped in {clock.Elapsed.TotalMilliseconds:0} ms");

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"stop took {clock.Elapsed.TotalMilliseconds:0} ms");
        await ProcessRunnerTests.WaitUntil(() => pids.All(p => !ProcessRunnerTests.Alive(p)), 2000);
        Assert.All(pids, p => Assert.False(ProcessRunnerTests.Alive(p), $"process {p} outlived the stop"));
        Assert.Equal(PSInvocationState.Stopped, ps.InvocationStateInfo.State);
    }

    [Fact]
    public void WorkerThreadOutputAndShouldProcessArriveOnThePipeline()
    {
        using var ps = HostWith<TestMarshallingForTestCommand>("Test-MarshallingForTest");
        ps.AddCommand("Test-MarshallingForTest");
        var output = ps.Invoke();
        Assert.Equal(Enumerable.Range(0, 100), output.Select(o => (int)o.BaseObject));
        Assert.Equal(100, ps.Streams.Progress.Count);
        Assert.Empty(ps.Streams.Error);

        using var whatIf = HostWith<TestMarshallingForTestCommand>("Test-MarshallingForTest");
        whatIf.AddCommand("Test-MarshallingForTest").AddParameter("WhatIf");
        Assert.Empty(whatIf.Invoke());
    }
}

/// <summary>Reports transfer progress from the worker thread through the base's progress adapter.</summary>
[Cmdlet(VerbsDiagnostic.Test, "ProgressForTest")]
public sealed class TestProgressForTestCommand : AsyncPSCmdlet
{
    protected override async Task ProcessRecordAsync()
    {
        var progress = CreateTransferProgress("Backing up main-db");
        for (var i = 1; i <= 4; i++)
        {
            await Task.Yield();
            progress.Report(new BackupTools.Engine.Repository.TransferProgress("Writing", i * (256L << 20), 1L << 30));
        }
    }
}

public sealed class ProgressTests
{
    [Fact]
    public void EngineProgressBecomesProgressRecordsWithPercentAndRate()
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.Commands.Add(new SessionStateCmdletEntry("Test-ProgressForTest", typeof(TestProgressForTestCommand), null));
        using var ps = PowerShell.Create(iss);
        ps.AddCommand("Test-ProgressForTest").Invoke();
        var records = ps.Streams.Progress.ToList();
        Assert.Equal([25, 50, 75, 100], records.Select(r => r.PercentComplete));
        Assert.All(records, r => Assert.Equal("Backing up main-db", r.Activity));
        Assert.StartsWith("Writing: 1.0 GB at ", records[^1].StatusDescription);
    }
}
