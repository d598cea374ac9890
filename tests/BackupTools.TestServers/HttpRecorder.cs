using System.Collections.Concurrent;
using System.Net;

namespace BackupTools.TestServers;

/// <summary>One request the recorder received.</summary>
public sealed record RecordedRequest(string Method, string Path, string? Authorization, string? ContentType, string Body);

/// <summary>
/// A loopback HTTP server that records every request (for Slack, Twilio and webhook alerts) and answers 200, or 500
/// for paths starting with /fail.
/// </summary>
public sealed class HttpRecorder : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();

    private HttpRecorder(int port)
    {
        Port = port;
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _ = Task.Run(LoopAsync);
    }

    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}";
    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public static HttpRecorder Start() => new(FreePort.Next());

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (HttpListenerException) { return; }
            using var reader = new StreamReader(context.Request.InputStream);
            var path = context.Request.Url!.AbsolutePath;
            Requests.Enqueue(new RecordedRequest(context.Request.HttpMethod, path, context.Request.Headers["Authorization"],
                context.Request.ContentType, await reader.ReadToEndAsync()));
            context.Response.StatusCode = path.StartsWith("/fail", StringComparison.Ordinal) ? 500 : 200;
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
    }
}
