using BackupTools.Engine.Status;

namespace BackupTools.Tests;

/// <summary>
/// The node_exporter textfile directory may be writable by another account: a link it plants where the metrics file
/// or its temporary file will be must never make root write through it.
/// </summary>
public sealed class TextfileSafetyTests
{
    [Fact]
    public void PlantedSymlinksAtTheTemporaryAndFinalNamesAreNeverWrittenThrough()
    {
        using var dir = new TempDirectory();
        var victim = dir.Combine("victim");
        File.WriteAllText(victim, "untouched");
        var textfiles = dir.Combine("textfiles");
        Directory.CreateDirectory(textfiles);
        var final = Path.Combine(textfiles, "backuptools.prom");
        // The names an earlier version used (.<name>.<pid>.tmp) and the final name, all pointing at the victim.
        File.CreateSymbolicLink(Path.Combine(textfiles, $".backuptools.prom.{Environment.ProcessId}.tmp"), victim);
        File.CreateSymbolicLink(final, victim);

        PrometheusTextfile.Write(final, "backuptools_up 1\n");

        Assert.Equal("untouched", File.ReadAllText(victim));
        Assert.Null(new FileInfo(final).LinkTarget); // the link itself was replaced by the new file
        Assert.Equal("backuptools_up 1\n", File.ReadAllText(final));
        Assert.DoesNotContain(Directory.GetFiles(textfiles), f => f.EndsWith(".tmp") && new FileInfo(f).LinkTarget is null);
    }
}
