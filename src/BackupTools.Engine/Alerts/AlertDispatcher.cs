using BackupTools.Model;

namespace BackupTools.Engine.Alerts;

/// <summary>
/// Routes alerts to channels by severity, never sends the same alert (subject + state) twice within
/// alerts.repeatEvery unless forced, sends one "resolved" message to the channels that got an alert when its subject
/// clears, and keeps going when one channel fails.
/// </summary>
public sealed class AlertDispatcher(string repositoryRoot, AlertPolicy policy, IReadOnlyCollection<string>? onlyChannels, bool force,
    Func<string, Alert, bool, Task<bool>> confirm, Func<DateTime>? clock = null)
{
    private readonly AlertStateStore _store = AlertStateStore.Open(repositoryRoot);
    private DateTime Now => clock?.Invoke() ?? DateTime.UtcNow;

    public async Task<IReadOnlyList<AlertDelivery>> DispatchAsync(Alert alert, CancellationToken ct)
    {
        var deliveries = new List<AlertDelivery>();
        if (alert.IsClear)
        {
            foreach (var active in _store.ForSubject(alert.Subject))
            {
                var sent = true;
                foreach (var name in active.Channels.Where(Selected))
                {
                    var d = await DeliverAsync(name, alert with { Severity = Enum.Parse<AlertSeverity>(active.Severity) }, active.Key, resolved: true, ct);
                    deliveries.Add(d);
                    sent &= d.Status == DeliveryStatus.Sent;
                }
                if (sent) _store.Remove(active.Key); // a failed all-clear is tried again on the next run
            }
            return deliveries;
        }
        var route = (alert.Severity == AlertSeverity.Critical ? policy.CriticalRoute : policy.WarningRoute).Where(Selected).ToList();
        var previous = _store.Get(alert.Key);
        if (!force && previous is not null && previous.Severity == alert.Severity.ToString() && Now - previous.LastSent < policy.RepeatEvery)
        {
            deliveries.AddRange(route.Select(name => new AlertDelivery
            {
                Channel = name, Severity = alert.Severity, Key = alert.Key, Status = DeliveryStatus.Suppressed, Message = alert.Title,
                Error = $"sent {previous.LastSent:u}; sent again after {policy.RepeatEvery.TotalHours:0.##} h (alerts.repeatEvery) or with -Force",
            }));
            return deliveries;
        }
        var reached = new List<string>();
        foreach (var name in route)
        {
            var d = await DeliverAsync(name, alert, alert.Key, resolved: false, ct);
            deliveries.Add(d);
            if (d.Status == DeliveryStatus.Sent) reached.Add(name);
        }
        if (reached.Count > 0)
            _store.Set(new ActiveAlert(alert.Key, alert.Subject, alert.Severity.ToString(), previous?.FirstSent ?? Now, Now,
                (previous?.Channels ?? []).Union(reached).ToList()));
        return deliveries;
    }

    public void Save() => _store.Save();

    /// <summary>
    /// A clearly marked test message through every configured channel (or the selected ones), whatever the routes,
    /// never deduplicated or remembered: alerting proven before it is needed.
    /// </summary>
    public async Task<IReadOnlyList<AlertDelivery>> SendTestAsync(CancellationToken ct)
    {
        var alert = new Alert($"test|{Environment.MachineName}", "Test", AlertSeverity.Warning,
            $"TEST from BackupTools on {Environment.MachineName}: please ignore",
            "This is a test of the backup alerting (Send-BackupAlert -Test). If you read it, this channel reaches you. Nothing is wrong.", Now);
        var deliveries = new List<AlertDelivery>();
        foreach (var name in policy.Channels.Keys.Where(Selected).Order(StringComparer.Ordinal))
            deliveries.Add(await DeliverAsync(name, alert, alert.Key, resolved: false, ct));
        return deliveries;
    }

    private bool Selected(string channel) => onlyChannels is null || onlyChannels.Contains(channel, StringComparer.OrdinalIgnoreCase);

    private async Task<AlertDelivery> DeliverAsync(string name, Alert alert, string key, bool resolved, CancellationToken ct)
    {
        AlertDelivery Result(DeliveryStatus status, string? error = null) => new()
        {
            Channel = name, Severity = alert.Severity, Key = key, Status = status, Resolved = resolved, Message = alert.Title, Error = error,
        };
        if (!policy.Channels.TryGetValue(name, out var channel))
            return Result(DeliveryStatus.Failed, $"the route names '{name}', but the policy has no alerts.channels.{name} settings");
        if (!await confirm(name, alert, resolved)) return Result(DeliveryStatus.WouldSend);
        try
        {
            await AlertSenders.SendAsync(channel, alert, resolved, ct);
            return Result(DeliveryStatus.Sent);
        }
        catch (Exception e) when (e is AlertDeliveryException or Targets.SecretUnavailableException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return Result(DeliveryStatus.Failed, e is TaskCanceledException ? $"{name}: no answer within 20 s" : e.Message);
        }
    }
}
