using BackupTools.Model;
using MySqlConnector;

namespace BackupTools.Engine.Targets;

/// <summary>Connections to a MariaDB target, in process (no client program, so the password never leaves memory).</summary>
public static class MariaDbConnections
{
    public static MySqlConnection Create(TargetPolicy target, string? password, TimeSpan timeout)
    {
        var builder = new MySqlConnectionStringBuilder
        {
            UserID = target.User ?? Environment.UserName,
            Password = password ?? "",
            ConnectionTimeout = (uint)Math.Max(1, timeout.TotalSeconds),
            Pooling = false,
        };
        if (target.Socket is not null)
        {
            builder.Server = target.Socket;
            builder.ConnectionProtocol = MySqlConnectionProtocol.UnixSocket;
        }
        else
        {
            builder.Server = target.Host;
            builder.Port = (uint)(target.Port ?? 3306);
        }
        return new MySqlConnection(builder.ConnectionString);
    }

    public static async Task<MySqlConnection> OpenAsync(TargetPolicy target, string? password, CancellationToken cancellationToken)
    {
        var connection = Create(target, password, TimeSpan.FromSeconds(15));
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }
}
