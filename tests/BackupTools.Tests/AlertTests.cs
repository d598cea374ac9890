using System.Text;
using System.Web;
using BackupTools.Engine.Alerts;
using BackupTools.Model;
using BackupTools.TestServers;

namespace BackupTools.Tests;

/// <summary>Alerts to a real loopback HTTP server (Slack, Twilio, webhook) and a real SMTP server (aiosmtpd).</summary>
public sealed class AlertTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly HttpRecorder _http = HttpRecorder.Start();
    private readonly SmtpServer _smtp;
    private DateTime _now = new(2026, 11, 26, 3, 0, 0, DateTimeKind.Utc);

    public AlertTests()
    {
        _smtp = SmtpServer.Start(_dir.Combine("smtp"));
        Environment.SetEnvironmentVariable("BT_TEST_SLACK_URL", _http.Url + "/slack/T000/B000/XXXX");
        Environment.SetEnvironmentVariable("BT_TEST_TWILIO_TOKEN", "twilio-secret-token");
    }

    public void Dispose()
    {
        _http.Dispose();
        _smtp.Dispose();
        _dir.Dispose();
    }

    private AlertPolicy Policy(string slackSource = "env:BT_TEST_SLACK_URL") => new()
    {
        RepeatEvery = TimeSpan.FromHours(4),
        CriticalRoute = ["phone", "sms", "slack"],
        WarningRoute = ["slack", "email"],
        Channels = new Dictionary<string, AlertChannel>
        {
            ["slack"] = new SlackChannel(slackSource),
            ["email"] = new EmailChannel("127.0.0.1", _smtp.Port, "none", "backup@example.com", ["ops@example.com"]),
            ["sms"] = new TwilioChannel("sms", "AC123", "env:BT_TEST_TWILIO_TOKEN", "+15550001", ["+15550002"], _http.Url),
            ["phone"] = new TwilioChannel("phone", "AC123", "env:BT_TEST_TWILIO_TOKEN", "+15550001", ["+15550003"], _http.Url),
            ["webhook"] = new WebhookChannel("value:" + _http.Url + "/hook"),
        },
    };

    private AlertDispatcher Dispatcher(AlertPolicy? policy = null, bool force = false, bool send = true, string[]? only = null) =>
        new(_dir.Combine("repo"), policy ?? Policy(), only, force, (_, _, _) => Task.FromResult(send), () => _now);

    private static BackupRecord Failed() => new()
    {
        Id = "20261126T020000Z-aaaaaaaa", Engine = "mariadb", Target = "main-db", Type = "full", Status = BackupOutcome.Failed,
        StartTime = new DateTime(2026, 11, 26, 2, 0, 0, DateTimeKind.Utc), Error = "mariabackup --backup failed with exit code 1.\nlog lines",
    };

    private static BackupRecord Succeeded() => Failed() with { Status = BackupOutcome.Succeeded, Error = null };

    [Fact]
    public async Task ACriticalFailureRingsThePhoneTextsAndPostsToSlackWithChannel()
    {
        var d = Dispatcher();
        var deliveries = await d.DispatchAsync(AlertBuilder.From(Failed())!, CancellationToken.None);
        Assert.Equal(["phone", "sms", "slack"], deliveries.Select(x => x.Channel));
        Assert.All(deliveries, x => Assert.Equal(DeliveryStatus.Sent, x.Status));

        var requests = _http.Requests.ToList();
        var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("AC123:twilio-secret-token"));
        var call = Assert.Single(requests, r => r.Path == "/2010-04-01/Accounts/AC123/Calls.json");
        Assert.Equal(("POST", basic), (call.Method, call.Authorization));
        var callForm = HttpUtility.ParseQueryString(call.Body);
        Assert.Equal(("+15550003", "+15550001"), (callForm["To"], callForm["From"]));
        Assert.StartsWith("<Response><Say>CRITICAL: main-db full backup failed", callForm["Twiml"]);
        var sms = HttpUtility.ParseQueryString(Assert.Single(requests, r => r.Path == "/2010-04-01/Accounts/AC123/Messages.json").Body);
        Assert.Equal("+15550002", sms["To"]);
        Assert.Contains("mariabackup --backup failed with exit code 1.", sms["Body"]);
        Assert.DoesNotContain("log lines", sms["Body"]);
        Assert.Contains("host: " + Environment.MachineName, sms["Body"]);
        var slack = Assert.Single(requests, r => r.Path == "/slack/T000/B000/XXXX");
        Assert.StartsWith("application/json", slack.ContentType);
        Assert.StartsWith("{\"text\":\"\\u003C!channel\\u003E :rotating_light: *CRITICAL* *main-db full backup failed*", slack.Body);
    }

    [Fact]
    public async Task AWarningGoesToSlackHereAndToARealMailbox()
    {
        var delayed = new BackupStatus
        {
            Target = "main-db", Engine = "mariadb", Type = "binlog", State = BackupState.Delayed, Severity = AlertSeverity.Warning,
            Message = "main-db binlog backup was due at 2026-11-26 02:15Z and has not succeeded since", AsOf = _now,
        };
        var deliveries = await Dispatcher().DispatchAsync(AlertBuilder.From(delayed)!, CancellationToken.None);
        Assert.Equal(["slack", "email"], deliveries.Select(x => x.Channel));
        Assert.All(deliveries, x => Assert.True(x.Status == DeliveryStatus.Sent, x.Error));
        Assert.Contains("\\u003C!here\\u003E", Assert.Single(_http.Requests).Body);
        var mail = Assert.Single(_smtp.Messages());
        Assert.Contains("Subject: [BackupTools] WARNING: main-db binlog: delayed", mail);
        Assert.Contains("To: ops@example.com", mail);
        Assert.Contains("was due at 2026-11-26 02:15Z", mail);
    }

    [Fact]
    public async Task TheSameAlertIsSuppressedUntilRepeatEveryOrForce()
    {
        // Each run is a new dispatcher over the state saved in the repository, as scheduled runs are.
        async Task<IReadOnlyList<AlertDelivery>> Run(bool force = false)
        {
            var d = Dispatcher(force: force);
            var result = await d.DispatchAsync(AlertBuilder.From(Failed())!, CancellationToken.None);
            d.Save();
            return result;
        }
        await Run();
        _now = _now.AddHours(1);
        var again = await Run();
        Assert.All(again, x => Assert.Equal(DeliveryStatus.Suppressed, x.Status));
        Assert.Contains("alerts.repeatEvery", again[0].Error);
        Assert.Equal(3, _http.Requests.Count);
        Assert.All(await Run(force: true), x => Assert.Equal(DeliveryStatus.Sent, x.Status));
        _now = _now.AddHours(4);
        Assert.All(await Run(), x => Assert.Equal(DeliveryStatus.Sent, x.Status));
    }

    [Fact]
    public async Task WhenItClearsOneResolvedMessageGoesToTheChannelsThatGotIt()
    {
        var first = Dispatcher(only: ["slack", "sms"]);
        await first.DispatchAsync(AlertBuilder.From(Failed())!, CancellationToken.None);
        first.Save();
        var clear = Dispatcher();
        var resolved = await clear.DispatchAsync(AlertBuilder.From(Succeeded())!, CancellationToken.None);
        clear.Save();
        Assert.Equal(["slack", "sms"], resolved.Select(x => x.Channel).Order());
        Assert.All(resolved, x => Assert.True(x.Resolved && x.Status == DeliveryStatus.Sent));
        Assert.Contains(_http.Requests, r => r.Body.Contains("Resolved"));
        Assert.Empty(await Dispatcher().DispatchAsync(AlertBuilder.From(Succeeded())!, CancellationToken.None));
    }

    [Fact]
    public async Task AFailingChannelDoesNotStopTheOthersAndLeaksNoSecret()
    {
        Environment.SetEnvironmentVariable("BT_TEST_SLACK_FAIL_URL", _http.Url + "/fail/T000/B000/SECRETPART");
        var deliveries = await Dispatcher(Policy("env:BT_TEST_SLACK_FAIL_URL")).DispatchAsync(AlertBuilder.From(Failed())!, CancellationToken.None);
        var slack = Assert.Single(deliveries, x => x.Channel == "slack");
        Assert.Equal(DeliveryStatus.Failed, slack.Status);
        Assert.Contains("HTTP 500", slack.Error);
        Assert.DoesNotContain("SECRETPART", slack.Error);
        Assert.All(deliveries.Where(x => x.Channel != "slack"), x => Assert.Equal(DeliveryStatus.Sent, x.Status));
        Assert.DoesNotContain("twilio-secret-token", string.Join(" ", deliveries.Select(x => x.Error)));
    }

    [Fact]
    public async Task AWebhookGetsTheAlertAsJson()
    {
        var policy = Policy() with { CriticalRoute = ["webhook"] };
        var d = Assert.Single(await Dispatcher(policy).DispatchAsync(AlertBuilder.From(Failed())!, CancellationToken.None));
        Assert.Equal(DeliveryStatus.Sent, d.Status);
        var request = Assert.Single(_http.Requests);
        Assert.Equal(("POST", "/hook"), (request.Method, request.Path));
        using var json = System.Text.Json.JsonDocument.Parse(request.Body);
        var root = json.RootElement;
        Assert.Equal("main-db|full|Failed", root.GetProperty("key").GetString());
        Assert.Equal("Critical", root.GetProperty("severity").GetString());
        Assert.Equal("main-db full backup failed", root.GetProperty("title").GetString());
        Assert.Equal("main-db full backup failed at 2026-11-26 02:00Z: mariabackup --backup failed with exit code 1.", root.GetProperty("text").GetString());
        Assert.Equal(Environment.MachineName, root.GetProperty("host").GetString());
        Assert.False(root.GetProperty("resolved").GetBoolean());
    }

    [Fact]
    public async Task WhatIfSendsNothingAndRemembersNothing()
    {
        var d = Dispatcher(send: false);
        var deliveries = await d.DispatchAsync(AlertBuilder.From(Failed())!, CancellationToken.None);
        Assert.All(deliveries, x => Assert.Equal(DeliveryStatus.WouldSend, x.Status));
        Assert.Empty(_http.Requests);
        Assert.All(await Dispatcher().DispatchAsync(AlertBuilder.From(Failed())!, CancellationToken.None), x => Assert.Equal(DeliveryStatus.Sent, x.Status));
    }

    [Fact]
    public async Task ARoutedChannelWithoutSettingsIsAFailureThatSaysWhatToAdd()
    {
        var policy = Policy() with { Channels = new Dictionary<string, AlertChannel>() };
        var deliveries = await Dispatcher(policy).DispatchAsync(AlertBuilder.From(Failed())!, CancellationToken.None);
        Assert.All(deliveries, x => Assert.Contains($"no alerts.channels.{x.Channel} settings", x.Error));
    }
}
