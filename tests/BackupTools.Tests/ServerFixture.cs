using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>Real mariadbd, redis-server and the Elasticsearch fake, started once for every test in the "servers" collection.</summary>
public sealed class ServerFixture : IDisposable
{
    public ServerFixture() => Servers = TestServerSet.Start();

    public TestServerSet Servers { get; }

    public void Dispose() => Servers.Dispose();
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "servers";
}

/// <summary>A temp directory per test, removed afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bt-" + Guid.NewGuid().ToString("N")[..10]);

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
