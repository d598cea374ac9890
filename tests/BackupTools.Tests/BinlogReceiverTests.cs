using System.Diagnostics;
using BackupTools.Engine.MariaDb;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>
/// The stream's own replica connection against a real MariaDB: the files it writes are the server's byte for byte
/// (across rotations, and for an event longer than one protocol packet), a refusal says why without the secret, a
/// login it cannot speak falls back to mariadb-binlog, and a silent network is given up on while an idle one is kept.
/// </summary>
[Collection(BinlogStreamCollection.Name)]
public sealed class BinlogReceiverTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly MariaDbServer _server;

    public BinlogReceiverTests()
    {
        _server = MariaDbServer.Start(_dir.Combine("db"));
        _server.Sql($"GRANT REPLICATION SLAVE ON *.* TO '{MariaDbServer.BackupUser}'@'localhost'; GRANT REPLICATION SLAVE ON *.* TO '{MariaDbServer.BackupUser}'@'127.0.0.1';" +
                    "CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY, v LONGBLOB) ENGINE=InnoDB; SET GLOBAL max_allowed_packet = 64 * 1024 * 1024;");
    }

    public void Dispose()
    {
        BinlogReceiver.HeartbeatPeriod = TimeSpan.FromSeconds(2);
        _server.Dispose();
        _dir.Dispose();
    }

    private TargetPolicy Target => new() { Name = "received", Engine = TargetEngine.MariaDb, Socket = _server.Socket, User = MariaDbServer.BackupUser };

    private string Newest() => _server.Sql("SHOW BINARY LOGS").Trim().Split('\n')[^1].Split('\t')[0];

    private string ServerFile(string name) => Path.Combine(_server.BinlogDirectory, name);

    [Fact]
    public async Task TheFilesReceivedAreTheServersAcrossARotationAndAnEventLongerThanAPacket()
    {
        var received = _dir.Combine("received");
        Directory.CreateDirectory(received);
        var first = Newest();
        using var receiver = BinlogReceiver.Connect(Target, _server.BackupPassword, 4_343_001, first, received, TimeSpan.FromSeconds(10), CancellationToken.None);
        var run = Task.Factory.StartNew(receiver.Run, TaskCreationOptions.LongRunning);
        // A row of 20 MB: its event is longer than one protocol packet (16 MB - 1), so it comes in two.
        _server.Sql("INSERT INTO s.t VALUES (1, REPEAT('x', 20 * 1024 * 1024)); INSERT INTO s.t VALUES (2, 'small');");
        Assert.True(new FileInfo(ServerFile(first)).Length > 20 * 1024 * 1024);
        await BinlogStreamTests.Until(() => receiver.Position == (first, new FileInfo(ServerFile(first)).Length), "the file received whole");
        _server.Sql("FLUSH BINARY LOGS; INSERT INTO s.t VALUES (3, 'after the rotation');");
        var second = Newest();
        Assert.NotEqual(first, second);
        await BinlogStreamTests.Until(() => receiver.Position == (second, new FileInfo(ServerFile(second)).Length), "the next file received");
        // The rotated file is closed (the server cleared its in-use flag): the copy is identical. The open one differs
        // only in that flag.
        Assert.Equal(File.ReadAllBytes(ServerFile(first)), File.ReadAllBytes(Path.Combine(received, first)));
        BinlogStreamTests.AssertSameButInUseFlag(ServerFile(second), Path.Combine(received, second));
        Assert.Equal([first, second], Directory.GetFiles(received).Select(Path.GetFileName).Order());

        // Stopped: the blocking read returns at once and the run ends without an error.
        var clock = Stopwatch.StartNew();
        receiver.Dispose();
        await run.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"stopping took {clock.Elapsed}"); // not the 10 s silence limit
        await BinlogStreamTests.Until(() => BinlogStreamTests.ReplicaConnections(_server).Count == 0, "the server's end of the connection gone");
    }

    [Fact]
    public void AWrongPasswordIsRefusedWithTheServersWordsAndWithoutTheSecret()
    {
        var wrong = "wrong-" + Guid.NewGuid().ToString("N");
        var e = Assert.ThrowsAny<BinlogReceiverException>(() =>
            BinlogReceiver.Connect(Target, wrong, 4_343_002, Newest(), _dir.Path, TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.Contains("Access denied", e.Message);
        Assert.Contains("1045", e.Message);
        Assert.DoesNotContain(wrong, e.Message);
        Assert.DoesNotContain(_server.BackupPassword, e.Message);
    }

    [Fact]
    public void AFileTheServerDoesNotHaveIsRefusedWithItsName()
    {
        var e = Assert.ThrowsAny<BinlogReceiverException>(() =>
        {
            using var receiver = BinlogReceiver.Connect(Target, _server.BackupPassword, 4_343_003, "mariadb-bin.999999", _dir.Path, TimeSpan.FromSeconds(10), CancellationToken.None);
            receiver.Run();
        });
        Assert.Contains("1236", e.Message); // ER_MASTER_FATAL_ERROR_READING_BINLOG: the server could not find the file
    }

    [Fact]
    public void ALoginThroughEd25519IsRefusedAsAPluginItDoesNotSpeak()
    {
        var password = Guid.NewGuid().ToString("N");
        _server.Sql("INSTALL SONAME 'auth_ed25519';" +
                    $"CREATE USER 'ed'@'localhost' IDENTIFIED VIA ed25519 USING PASSWORD('{password}'); GRANT REPLICATION SLAVE ON *.* TO 'ed'@'localhost';");
        var e = Assert.Throws<UnsupportedAuthenticationException>(() =>
            BinlogReceiver.Connect(Target with { User = "ed" }, password, 4_343_004, Newest(), _dir.Path, TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.Equal("client_ed25519", e.Plugin);
        Assert.DoesNotContain(password, e.Message);
    }

    [Fact]
    public async Task ALoginItDoesNotSpeakIsStreamedByMariaDbBinlogAndSaidSo()
    {
        // The module's other connections (MySqlConnector) speak plugins this one does not (the hook stands for such a
        // login: this server's plugin is taken as unspoken); the stream then runs the server release's tool.
        BinlogReceiver.UnspokenPluginHook = "mysql_native_password";
        var repo = _dir.Combine("repo");
        var warnings = new List<string>();
        using var stop = new CancellationTokenSource();
        var request = new Engine.Core.BackupRequest { RepositoryRoot = repo, Target = Target, Password = _server.BackupPassword, Warn = w => { lock (warnings) warnings.Add(w); }, Log = _ => { } };
        var stream = Task.Run(() => BinlogStream.RunAsync(request, _ => { }, stop.Token));
        try
        {
            _server.Sql("INSERT INTO s.t VALUES (10, 'through the tool');");
            var file = Newest();
            var directory = BinlogStream.DirectoryFor(repo, Target.Name);
            var local = Path.Combine(directory, file);
            await BinlogStreamTests.Until(() => File.Exists(local) && new FileInfo(local).Length == new FileInfo(ServerFile(file)).Length, "the file streamed by mariadb-binlog", 30);
            BinlogStreamTests.AssertSameButInUseFlag(ServerFile(file), local);
            Assert.Single(Process.GetProcessesByName("mariadb-binlog"), p => File.ReadAllText($"/proc/{p.Id}/cmdline").Contains($"--result-file={directory}/", StringComparison.Ordinal));
            lock (warnings) Assert.Single(warnings, w => w.Contains("'mysql_native_password'", StringComparison.Ordinal) && w.Contains("through mariadb-binlog", StringComparison.Ordinal));
        }
        finally
        {
            stop.Cancel();
            await stream;
            BinlogReceiver.UnspokenPluginHook = null;
        }
    }

    [Fact]
    public async Task ASilentNetworkIsGivenUpAfterTheSilenceLimitWhileAnIdleConnectionIsKeptByHeartbeats()
    {
        BinlogReceiver.HeartbeatPeriod = TimeSpan.FromMilliseconds(300); // silence limit 1.5 s
        using var proxy = new LoopbackProxy(_server.Port);
        var target = Target with { Socket = null, Host = "127.0.0.1", Port = proxy.Port };
        var received = _dir.Combine("received");
        Directory.CreateDirectory(received);
        using var receiver = BinlogReceiver.Connect(target, _server.BackupPassword, 4_343_005, Newest(), received, TimeSpan.FromSeconds(10), CancellationToken.None);
        var run = Task.Factory.StartNew(receiver.Run, TaskCreationOptions.LongRunning);
        // Idle for three times the limit: the heartbeats keep it.
        await Task.Delay(4500);
        Assert.False(run.IsCompleted, $"an idle connection was dropped: {run.Exception?.GetBaseException().Message}");
        _server.Sql("INSERT INTO s.t VALUES (20, 'still received');");
        var file = Newest();
        await BinlogStreamTests.Until(() => receiver.Position == (file, new FileInfo(ServerFile(file)).Length), "the commit after the idle time");
        // Nothing gets through, nothing is closed: given up within the limit (and a second to spare), with the reason.
        proxy.Stalled = true;
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAnyAsync<BinlogReceiverException>(() => run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.0, 6.0); // the 1.5 s limit (a busy machine may add some), not the default 10 s
        Assert.Contains("no event and no heartbeat", e.Message);
    }

    [Fact]
    public async Task OverTcpTheConnectionIsEncryptedWhenTheServerOffersTls()
    {
        // A server that refuses any login without TLS: receiving at all proves the connection is encrypted.
        var certs = _dir.Combine("tls");
        Directory.CreateDirectory(certs);
        using (var key = System.Security.Cryptography.RSA.Create(2048))
        {
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=127.0.0.1", key, System.Security.Cryptography.HashAlgorithmName.SHA256,
                System.Security.Cryptography.RSASignaturePadding.Pkcs1);
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            File.WriteAllText(Path.Combine(certs, "cert.pem"), cert.ExportCertificatePem());
            File.WriteAllText(Path.Combine(certs, "key.pem"), key.ExportRSAPrivateKeyPem());
        }
        using var tlsServer = MariaDbServer.Start(_dir.Combine("db-tls"), extraConfig: $"ssl_cert={certs}/cert.pem\nssl_key={certs}/key.pem\nrequire_secure_transport=ON");
        tlsServer.Sql($"GRANT REPLICATION SLAVE ON *.* TO '{MariaDbServer.BackupUser}'@'127.0.0.1'; CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY) ENGINE=InnoDB;");
        var target = Target with { Socket = null, Host = "127.0.0.1", Port = tlsServer.Port };
        var received = _dir.Combine("received-tls");
        Directory.CreateDirectory(received);
        var file = tlsServer.Sql("SHOW BINARY LOGS").Trim().Split('\n')[^1].Split('\t')[0];
        using var receiver = BinlogReceiver.Connect(target, tlsServer.BackupPassword, 4_343_006, file, received, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.True(receiver.Encrypted);
        var run = Task.Factory.StartNew(receiver.Run, TaskCreationOptions.LongRunning);
        tlsServer.Sql("INSERT INTO s.t VALUES (1);");
        var path = Path.Combine(tlsServer.BinlogDirectory, file);
        await BinlogStreamTests.Until(() => receiver.Position == (file, new FileInfo(path).Length), "the commit received over TLS");
        BinlogStreamTests.AssertSameButInUseFlag(path, Path.Combine(received, file));
        receiver.Dispose();
        await run.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
