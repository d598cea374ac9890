using System.Management.Automation;
using BackupTools.Engine.Alerts;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>
/// Send-BackupAlert: routes what the pipeline carries (BackupStatus, StorageStatus, BackupRecord, BackupVerification,
/// RestoreResult) to the policy's alert channels by severity, with deduplication and "resolved" messages.
/// </summary>
[Cmdlet(VerbsCommunications.Send, "BackupAlert", DefaultParameterSetName = DefaultSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(AlertDelivery))]
public sealed class SendBackupAlertCommand : PolicyCmdlet
{
    private const string DefaultSet = "Default";

    private const string TestSet = "Test";

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = DefaultSet)]
    public PSObject? InputObject { get; set; }

    /// <summary>Send a clearly marked test message through every configured channel (or -Channel), whatever the routes; one delivery per channel.</summary>
    [Parameter(Mandatory = true, ParameterSetName = TestSet)]
    public SwitchParameter Test { get; set; }

    /// <summary>Only these channels (of the route the severity picks).</summary>
    [Parameter]
    [ValidateSet("phone", "sms", "slack", "email", "webhook", IgnoreCase = true)]
    public string[]? Channel { get; set; }

    /// <summary>Send even when the same alert went out within alerts.repeatEvery.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    private AlertDispatcher? _dispatcher;
    private bool _recordState, _declined;

    // Asked once through ShouldProcess: a what-if lists what would be sent, sends nothing and records nothing in the
    // alert state; a no stops it all.
    protected override async Task BeginProcessingAsync()
    {
        var (go, whatIf) = await AskAsync("alert state", "Send alerts and record what was sent");
        _recordState = go;
        _declined = !go && !whatIf;
    }

    protected override async Task ProcessRecordAsync()
    {
        if (_declined) return;
        if (Test)
        {
            var dispatcher = new AlertDispatcher(LoadPolicy().Repository, LoadPolicy().Alerts, Channel, force: true,
                (channel, a, _) => ShouldProcessAsync(channel, "Send a test message"));
            var sent = await dispatcher.SendTestAsync(CancelToken);
            if (sent.Count == 0)
                WriteErrorAsync(new ErrorRecord(new InvalidOperationException(
                    "No alert channel is configured (alerts.channels in the policy): there is nothing to test, and no alert can reach anyone."),
                    "AlertNoChannel", ErrorCategory.NotEnabled, null));
            foreach (var d in sent)
            {
                if (d.Status == DeliveryStatus.Failed)
                    WriteErrorAsync(new ErrorRecord(new InvalidOperationException($"The test message was not delivered to {d.Channel}: {d.Error}"),
                        "AlertNotDelivered", ErrorCategory.ConnectionError, d));
                WriteObjectAsync(d);
            }
            return;
        }
        if (InputObject?.BaseObject is not { } item) return;
        var alert = AlertBuilder.From(item);
        if (alert is null)
        {
            WriteVerboseAsync($"Passed over a {item.GetType().Name}: not something Send-BackupAlert reports.");
            return;
        }
        _dispatcher ??= new AlertDispatcher(LoadPolicy().Repository, LoadPolicy().Alerts, Channel, Force,
            (channel, a, resolved) => ShouldProcessAsync(channel, (resolved ? "Send 'resolved' for " : $"Send {a.Severity} alert ") + a.Title));
        var policy = LoadPolicy();
        var route = alert.Severity == AlertSeverity.Critical ? policy.Alerts.CriticalRoute : policy.Alerts.WarningRoute;
        // An error, not a warning: a scheduled job then exits non-zero (and pings the heartbeat's /fail), so an alert
        // with nowhere to go is never a quiet success.
        if (alert.Severity != AlertSeverity.None && route.Count == 0)
            WriteErrorAsync(new ErrorRecord(new InvalidOperationException(
                $"{alert.Severity} alert '{alert.Title}' has no channel to go to: the policy {policy.Path} configures no alert channel " +
                $"for {alert.Severity} (alerts.routes and alerts.channels). Nobody was told."), "AlertNoChannel", ErrorCategory.NotEnabled, alert.Title));
        foreach (var d in await _dispatcher.DispatchAsync(alert, CancelToken))
        {
            if (d.Status == DeliveryStatus.Failed)
                WriteErrorAsync(new ErrorRecord(new InvalidOperationException($"Alert '{d.Message}' was not delivered to {d.Channel}: {d.Error}"),
                    "AlertNotDelivered", ErrorCategory.ConnectionError, d));
            WriteObjectAsync(d);
        }
    }

    protected override Task EndProcessingAsync()
    {
        if (_dispatcher is not null && _recordState) _dispatcher.Save();
        return Task.CompletedTask;
    }
}
