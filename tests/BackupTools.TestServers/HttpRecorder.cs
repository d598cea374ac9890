using System.Collections.Concurrent;
using System.Net;

namespace BackupTools.TestServers;

/// <summary>One request the recorder received.</summary>
public sealed record RecordedRequest(string Method, string Path, string? Authorization, string? ContentType, string Body);

/// <summary>
/// A loopback HTTP server that records every request (for Slack, Twilio and webhook alerts) and answers 200, or 500
/// for paths starting with /fail.
/// </summary>
public sealed class HttpRecorder : LoopbackHttpServer
{
    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public static HttpRecorder Start() => new();

    protected override async Task HandleAsync(HttpListenerContext context)
    {
        using var reader = new StreamReader(context.Request.InputStream);
        var path = context.Request.Url!.AbsolutePath;
        Requests.Enqueue(new RecordedRequest(context.Request.HttpMethod, path, context.Request.Headers["Authorization"],
            context.Request.ContentType, await reader.ReadToEndAsync()));
        context.Response.StatusCode = path.StartsWith("/fail", StringComparison.Ordinal) ? 500 : 200;
        context.Response.Close();
    }
}
