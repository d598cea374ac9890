using System.Diagnostics;
using BackupTools.Model;
using Elastic.Clients.Elasticsearch;
using Elastic.Transport;
using MySqlConnector;
using StackExchange.Redis;

namespace BackupTools.Engine.Targets;

/// <summary>
/// Checks that a target answers and that we can log in, with each engine's own client. A failure is a result
/// (Reachable = false and the reason), not an exception, so one dead target does not hide the others.
/// </summary>
public static class TargetProbe
{
    public static async Task<TargetCheck> CheckAsync(TargetPolicy target, string? password, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            var version = target.Engine switch
            {
                TargetEngine.MariaDb => await MariaDbVersionAsync(target, password, timeout, deadline.Token),
                TargetEngine.Redis => await RedisVersionAsync(target, password, timeout),
                _ => await ElasticsearchVersionAsync(target, password, timeout, deadline.Token),
            };
            return Result(target, clock, version, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Result(target, clock, null, $"no answer from {target.Endpoint} within {timeout.TotalSeconds:0} s; check that the server runs and the address is right");
        }
        catch (Exception e) when (e is MySqlException or RedisException or TransportException or InvalidOperationException
                                      or System.Net.Http.HttpRequestException or System.Net.Sockets.SocketException or IOException)
        {
            return Result(target, clock, null, e.Message);
        }
    }

    private static TargetCheck Result(TargetPolicy target, Stopwatch clock, string? version, string? error) => new()
    {
        Target = target.Name, Engine = target.Engine, Endpoint = target.Endpoint, Reachable = error is null,
        ServerVersion = version, Latency = clock.Elapsed, Error = error,
    };

    private static async Task<string> MariaDbVersionAsync(TargetPolicy target, string? password, TimeSpan timeout, CancellationToken ct)
    {
        await using var connection = MariaDbConnections.Create(target, password, timeout);
        await connection.OpenAsync(ct);
        await using var command = new MySqlCommand("SELECT VERSION()", connection);
        return (string)(await command.ExecuteScalarAsync(ct))!;
    }

    private static async Task<string> RedisVersionAsync(TargetPolicy target, string? password, TimeSpan timeout)
    {
        var options = new ConfigurationOptions
        {
            EndPoints = { target.Socket is { } path ? new System.Net.Sockets.UnixDomainSocketEndPoint(path) : new System.Net.DnsEndPoint(target.Host!, target.Port ?? 6379) },
            Password = password,
            ConnectTimeout = (int)timeout.TotalMilliseconds,
            SyncTimeout = (int)timeout.TotalMilliseconds,
            AbortOnConnectFail = true,
            ConnectRetry = 1,
            AllowAdmin = false,
        };
        await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        await server.PingAsync();
        return server.Version.ToString();
    }

    private static async Task<string> ElasticsearchVersionAsync(TargetPolicy target, string? password, TimeSpan timeout, CancellationToken ct)
    {
        var settings = new ElasticsearchClientSettings(new Uri(target.Url!)).RequestTimeout(timeout);
        if (target.User is not null) settings = settings.Authentication(new BasicAuthentication(target.User, password ?? ""));
        var client = new ElasticsearchClient(settings);
        var info = await client.InfoAsync(ct);
        if (!info.IsValidResponse)
            throw new InvalidOperationException(info.ElasticsearchServerError?.Error?.Reason
                ?? info.ApiCallDetails.OriginalException?.Message
                ?? $"HTTP {info.ApiCallDetails.HttpStatusCode} from {target.Url}");
        return info.Version.Number;
    }
}
