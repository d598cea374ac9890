namespace BackupTools.Model;

/// <summary>What happened to one alert on one channel.</summary>
public enum DeliveryStatus { Sent, Suppressed, Failed, WouldSend }

/// <summary>What a heartbeat ping says (Send-BackupHeartbeat): a job began, ended well, or failed.</summary>
public enum HeartbeatStatus { Start, Success, Fail }

/// <summary>Send-BackupAlert's result: one per channel and alert.</summary>
public sealed record AlertDelivery
{
    public required string Channel { get; init; }
    public required AlertSeverity Severity { get; init; }
    /// <summary>What identifies the alert for deduplication: target|type|state.</summary>
    public required string Key { get; init; }
    public required DeliveryStatus Status { get; init; }
    /// <summary>True for the one "resolved" message sent when an alert clears.</summary>
    public bool Resolved { get; init; }
    public string? Message { get; init; }
    public string? Error { get; init; }
}
