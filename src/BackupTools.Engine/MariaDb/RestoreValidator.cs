using System.Globalization;
using BackupTools.Model;
using MySqlConnector;

namespace BackupTools.Engine.MariaDb;

/// <summary>Checks the restored database on the temporary server and counts its rows.</summary>
public static class RestoreValidator
{
    private static readonly string[] SystemSchemas = ["mysql", "information_schema", "performance_schema", "sys"];

    public static async Task<(IReadOnlyList<TableRowCount> Tables, string Summary)> ValidateAsync(TemporaryMariaDb server,
        RestoreValidation level, string? validationQuery, Action<string>? log, CancellationToken ct)
    {
        await using var c = await server.OpenAsync(ct);
        var tables = new List<string>();
        await using (var list = new MySqlCommand(
                         "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' " +
                         $"AND TABLE_SCHEMA NOT IN ({string.Join(", ", SystemSchemas.Select(s => $"'{s}'"))}) " +
                         "ORDER BY DATA_LENGTH + INDEX_LENGTH DESC, 1, 2", c))
        await using (var r = await list.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct)) tables.Add($"`{r.GetString(0).Replace("`", "``")}`.`{r.GetString(1).Replace("`", "``")}`");

        // Tables are checked in parallel, one connection per core (each check is one server thread's work),
        // largest tables first so one big table does not start last.
        var counts = new TableRowCount[tables.Count];
        var next = -1;
        var workers = Enumerable.Range(0, Math.Min(tables.Count, Math.Max(1, Environment.ProcessorCount))).Select(async _ =>
        {
            await using var own = await server.OpenAsync(ct);
            for (int i; (i = Interlocked.Increment(ref next)) < tables.Count; )
                counts[i] = await CheckTableAsync(own, tables[i], level, ct);
        });
        await Task.WhenAll(workers);
        log?.Invoke($"Validated {tables.Count} table(s) with {(level == RestoreValidation.CheckTable ? "CHECK TABLE and COUNT(*)" : "COUNT(*)")}");
        var summary = $"{(level == RestoreValidation.CheckTable ? "CHECK TABLE OK" : "row counts read")} on {tables.Count} table(s)";

        if (validationQuery is not null)
        {
            await using var q = new MySqlCommand(validationQuery, c) { CommandTimeout = 0 };
            var value = await q.ExecuteScalarAsync(ct);
            if (!IsTrue(value))
                throw new InvalidDataException($"The validation query returned {(value is null or DBNull ? "no value" : $"'{value}'")}, not a true first column: {validationQuery}");
            summary += "; validation query true";
        }
        return (counts.OrderBy(x => x.Table, StringComparer.Ordinal).ToList(), summary);
    }

    private static async Task<TableRowCount> CheckTableAsync(MySqlConnection c, string table, RestoreValidation level, CancellationToken ct)
    {
        if (level == RestoreValidation.CheckTable)
        {
            await using var check = new MySqlCommand($"CHECK TABLE {table}", c) { CommandTimeout = 0 };
            await using var r = await check.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var type = r.GetString(2);
                var text = r.GetString(3);
                if (type.Equals("error", StringComparison.OrdinalIgnoreCase) ||
                    (type.Equals("status", StringComparison.OrdinalIgnoreCase) && !text.Equals("OK", StringComparison.OrdinalIgnoreCase) && !text.Contains("up to date", StringComparison.OrdinalIgnoreCase)))
                    throw new InvalidDataException($"CHECK TABLE {table} reports {type}: {text}");
            }
        }
        await using var count = new MySqlCommand($"SELECT COUNT(*) FROM {table}", c) { CommandTimeout = 0 };
        return new TableRowCount(table.Replace("`", ""), Convert.ToInt64(await count.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture));
    }

    private static bool IsTrue(object? value) => value switch
    {
        null or DBNull => false,
        bool b => b,
        string s => s.Length > 0 && s != "0" && !s.Equals("false", StringComparison.OrdinalIgnoreCase),
        IConvertible n => Convert.ToDecimal(n, CultureInfo.InvariantCulture) != 0,
        _ => true,
    };
}
