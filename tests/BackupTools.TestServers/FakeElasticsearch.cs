using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace BackupTools.TestServers;

/// <summary>
/// A loopback HTTP server that answers the Elasticsearch REST calls we make with their documented shapes
/// (no real cluster can be installed here). It sends the X-Elastic-Product header the official client checks.
/// Every request is recorded so tests can assert what the client sent.
/// </summary>
public sealed class FakeElasticsearch : LoopbackHttpServer
{
    public const string Version = "9.1.0";

    public ConcurrentQueue<string> Requests { get; } = new();

    public static FakeElasticsearch Start() => new();

    protected override Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        Requests.Enqueue($"{request.HttpMethod} {request.Url!.AbsolutePath}");
        var (status, body) = (request.HttpMethod, request.Url.AbsolutePath) switch
        {
            ("GET" or "HEAD", "/") => (200, $$"""
                {"name":"fake-node","cluster_name":"backuptools-test","cluster_uuid":"fake-uuid",
                 "version":{"number":"{{Version}}","build_flavor":"default","build_type":"tar","build_hash":"0",
                 "build_date":"2026-01-01T00:00:00.000Z","build_snapshot":false,"lucene_version":"10.2.0",
                 "minimum_wire_compatibility_version":"8.19.0","minimum_index_compatibility_version":"8.0.0"},
                 "tagline":"You Know, for Search"}
                """),
            _ => (404, $$"""{"error":{"root_cause":[],"type":"resource_not_found_exception","reason":"fake has no {{request.Url.AbsolutePath}}"},"status":404}"""),
        };
        var bytes = Encoding.UTF8.GetBytes(body);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers["X-Elastic-Product"] = "Elasticsearch";
        context.Response.ContentLength64 = bytes.Length;
        context.Response.OutputStream.Write(bytes);
        context.Response.Close();
        return Task.CompletedTask;
    }
}
