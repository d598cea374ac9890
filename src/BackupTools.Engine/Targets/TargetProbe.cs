using System.Diagnostics;
using BackupTools.Engine.Elasticsearch;
using BackupTools.Engine.Engines;
using BackupTools.Engine.Redis;
using BackupTools.Model;
using MySqlConnector;

namespace BackupTools.Engine.Targets;

/// <summary>
/// Checks that a target answers and that we can log in, with the very client and authentication its backup uses (the
/// engine's own), so a target reported reachable is one the backup can reach. A failure is a result (Reachable =
/// false and the reason), not an exception, so one dead target does not hide the others.
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
            var version = await EngineRegistry.For(target).ServerVersionAsync(target, password, timeout, deadline.Token);
            return Result(target, clock, version, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Result(target, clock, null, $"no answer from {target.Endpoint} within {timeout.TotalSeconds:0} s; check that the server runs and the address is right");
        }
        catch (Exception e) when (e is MySqlException or RedisConnectException or RedisAuthException or RedisReplyException
                                      or EsRequestException or EsAuthException or Elastic.Transport.TransportException
                                      or InvalidOperationException or InvalidDataException or FormatException or InvalidCastException
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
}
