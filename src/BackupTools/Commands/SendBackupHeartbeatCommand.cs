using System.Management.Automation;
using BackupTools.Engine.Alerts;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>
/// Send-BackupHeartbeat: pings the policy's alerts.heartbeat push URLs (healthchecks.io style: /start, success, /fail),
/// so that an outside service notices when this host stops running its jobs at all. Every scheduled job calls it.
/// </summary>
[Cmdlet(VerbsCommunications.Send, "BackupHeartbeat", DefaultParameterSetName = "Default", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(AlertDelivery))]
public sealed class SendBackupHeartbeatCommand : PolicyCmdlet
{
    /// <summary>Start (the job began), Success or Fail (it ended so).</summary>
    [Parameter(Mandatory = true, Position = 0)]
    public HeartbeatStatus Status { get; set; }

    /// <summary>The job the ping is for; goes into the ping's body.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Job { get; set; }

    /// <summary>What to say: for Fail, the first error line.</summary>
    [Parameter(ValueFromPipeline = true)]
    public string? Message { get; set; }

    /// <summary>How long the job took; goes into the body.</summary>
    [Parameter]
    public TimeSpan? Duration { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        var policy = LoadPolicy();
        if (policy.Alerts.Heartbeats.Count == 0)
        {
            WriteVerboseAsync($"The policy {policy.Path} has no alerts.heartbeat: nothing to ping.");
            return;
        }
        var body = $"{Job ?? "backuptools"} {Status.ToString().ToLowerInvariant()} on {Environment.MachineName}" +
                   (Duration is { } d ? $" after {d.TotalSeconds:0.#} s" : "") + (string.IsNullOrWhiteSpace(Message) ? "" : ": " + Message.Split('\n')[0].Trim());
        if (!await ShouldProcessAsync($"{policy.Alerts.Heartbeats.Count} heartbeat URL(s)", $"Ping {Status}: {body}")) return;
        foreach (var delivery in await Heartbeat.PingAsync(policy.Alerts.Heartbeats, Status, body, CancelToken))
        {
            // A warning, not an error: the job's own result must not change because the outside service is unreachable
            // (that service raises its own alarm when pings stop).
            if (delivery.Status == DeliveryStatus.Failed) WriteWarningAsync($"Heartbeat ping ({Status}) not delivered: {delivery.Error}");
            WriteObjectAsync(delivery);
        }
    }
}
