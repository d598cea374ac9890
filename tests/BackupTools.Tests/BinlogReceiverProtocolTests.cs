namespace BackupTools.Tests;

/// <summary>
/// What a damaged or hostile server could send the stream's own replica connection, from a loopback fake: an event
/// that does not end where it says, a file started again, a file name that is not the log's. Each is refused, and the
/// file keeps exactly the whole events received before it.
/// </summary>
[Collection(BinlogStreamCollection.Name)] // BinlogReceiver.HeartbeatPeriod, which a test of the real server's sets, is process-wide
public sealed class BinlogReceiverProtocolTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task AnEventThatDoesNotEndWhereTheServerSaysStopsTheStreamWithTheWholeEventsBeforeItAndNoHole()
    {
        var good = FakeBinlogServer.Query(FakeBinlogServer.FirstEventAt, 100);
        var next = FakeBinlogServer.FirstEventAt + good.Length;
        var bad = FakeBinlogServer.Query(next + 1, 80); // says it ends one byte later than it does
        var (file, error) = await FakeBinlogServer.ReceiveAsync(_dir.Path, "mariadb-bin.000001",
            [FakeBinlogServer.FakeRotate("mariadb-bin.000001"), FakeBinlogServer.FormatDescription(), good, bad]);
        Assert.Contains("ends at", error);
        Assert.Contains("out of step", error);
        // Exactly the magic, the Format_description and the good event: nothing of the bad one, no gap of zeros.
        Assert.Equal([.. FakeBinlogServer.Magic, .. FakeBinlogServer.FormatDescription()[1..], .. good[1..]], file);
    }

    [Theory]
    [InlineData("a second Format_description with no Rotate")]
    [InlineData("a Format_description with no position")]
    public async Task AFileIsNeverStartedAgainOverWhatWasReceived(string variant)
    {
        var good = FakeBinlogServer.Query(FakeBinlogServer.FirstEventAt, 100);
        var again = variant.Contains("no position") ? FakeBinlogServer.FormatDescription(logPos: 0) : FakeBinlogServer.FormatDescription();
        var events = variant.Contains("no position")
            ? new[] { FakeBinlogServer.FakeRotate("mariadb-bin.000001"), FakeBinlogServer.FormatDescription(), good, FakeBinlogServer.FakeRotate("mariadb-bin.000001"), again }
            : [FakeBinlogServer.FakeRotate("mariadb-bin.000001"), FakeBinlogServer.FormatDescription(), good, again];
        var (file, error) = await FakeBinlogServer.ReceiveAsync(_dir.Path, "mariadb-bin.000001", events);
        Assert.NotEmpty(error);
        Assert.Equal([.. FakeBinlogServer.Magic, .. FakeBinlogServer.FormatDescription()[1..], .. good[1..]], file);
    }

    [Theory]
    [InlineData("../escaped.000002")]
    [InlineData(".mariadb-bin.000001.held")]
    [InlineData("state.json")]
    [InlineData("other-bin.000002")]
    public async Task ARotateToANameThatIsNotOneOfTheLogsFilesIsRefused(string name)
    {
        var (_, error) = await FakeBinlogServer.ReceiveAsync(_dir.Path, "mariadb-bin.000001",
            [FakeBinlogServer.FakeRotate("mariadb-bin.000001"), FakeBinlogServer.FormatDescription(), FakeBinlogServer.FakeRotate(name), FakeBinlogServer.FormatDescription()]);
        Assert.Contains("not one of mariadb-bin.<number>", error);
        Assert.False(File.Exists(_dir.Combine("escaped.000002")));
        Assert.Equal(["mariadb-bin.000001"], Directory.GetFiles(Path.Combine(_dir.Path, "fake")).Select(Path.GetFileName));
    }
}
