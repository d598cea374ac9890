namespace BackupTools.Engine.Offsite;

/// <summary>
/// A bandwidth limit shared by every upload of one copy (offsite.&lt;name&gt;.maxMBps): each part waits until the bytes
/// before it have had their time at the rate. Null rate: no limit.
/// </summary>
public sealed class Throttle(double? megabytesPerSecond)
{
    private readonly object _gate = new();
    private DateTime _free = DateTime.MinValue;

    public async Task TakeAsync(long bytes, CancellationToken ct)
    {
        if (megabytesPerSecond is not { } rate || rate <= 0) return;
        TimeSpan wait;
        lock (_gate)
        {
            var now = DateTime.UtcNow;
            var start = _free > now ? _free : now;
            _free = start + TimeSpan.FromSeconds(bytes / (rate * 1_000_000));
            wait = start - now;
        }
        if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
    }
}
