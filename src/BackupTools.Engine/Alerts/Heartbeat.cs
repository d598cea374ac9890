using System.Text;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Engine.Alerts;

/// <summary>
/// The dead man's switch: every scheduled job pings the push URLs of alerts.heartbeat, healthchecks.io style
/// (<c>&lt;url&gt;/start</c> when it begins, <c>&lt;url&gt;</c> when it succeeds, <c>&lt;url&gt;/fail</c> when it fails,
/// with the duration and the first error line in the body). When the host is dead, nothing pings, and the outside
/// service raises the alarm that no check on this host could.
/// </summary>
public static class Heartbeat
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public static string UrlFor(string baseUrl, HeartbeatStatus status) => status switch
    {
        HeartbeatStatus.Start => baseUrl.TrimEnd('/') + "/start",
        HeartbeatStatus.Fail => baseUrl.TrimEnd('/') + "/fail",
        _ => baseUrl,
    };

    /// <summary>Pings every URL (two tries each); returns one delivery per URL, never throws for a refused ping.</summary>
    public static async Task<IReadOnlyList<AlertDelivery>> PingAsync(IReadOnlyList<string> urlSources, HeartbeatStatus status, string body, CancellationToken ct)
    {
        var deliveries = new List<AlertDelivery>();
        for (var i = 0; i < urlSources.Count; i++)
        {
            string? error = null;
            try
            {
                var url = UrlFor(SecretResolver.ResolveSource(urlSources[i], "alerts.heartbeat", "push URL"), status);
                for (var attempt = 1; ; attempt++)
                {
                    try
                    {
                        using var content = new StringContent(body, Encoding.UTF8, "text/plain");
                        using var response = await Http.PostAsync(url, content, ct);
                        if (response.IsSuccessStatusCode) { error = null; break; }
                        error = $"the heartbeat service answered {(int)response.StatusCode} {response.ReasonPhrase}";
                    }
                    catch (HttpRequestException e) { error = $"the heartbeat service could not be reached ({e.Message})"; }
                    catch (TaskCanceledException) when (!ct.IsCancellationRequested) { error = "the heartbeat service did not answer within 10 s"; }
                    catch (Exception e) when (e is InvalidOperationException or UriFormatException or NotSupportedException)
                    {
                        error = "the heartbeat URL is not an absolute http(s) URL (check the value of alerts.heartbeat)";
                        break;
                    }
                    if (attempt == 2) break;
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                }
            }
            catch (SecretUnavailableException e) { error = e.Message; }
            deliveries.Add(new AlertDelivery
            {
                Channel = "heartbeat", Severity = status == HeartbeatStatus.Fail ? AlertSeverity.Critical : AlertSeverity.None,
                Key = $"heartbeat|{i}|{status}", Status = error is null ? DeliveryStatus.Sent : DeliveryStatus.Failed,
                Message = body, Error = error,
            });
        }
        return deliveries;
    }
}
