namespace BackupTools.Engine.Repository;

/// <summary>A read-only pass-through that reports how many bytes were read, for progress on copies we do not drive.</summary>
public sealed class ProgressStream(Stream inner, IProgress<TransferProgress>? progress, string phase, long? totalBytes = null)
    : ObservingReadStream(inner)
{
    private long _read;
    private long _lastReport;

    protected override void Observe(ReadOnlySpan<byte> chunk)
    {
        _read += chunk.Length;
        if (progress is not null && (chunk.Length == 0 || _read - _lastReport >= 16 << 20))
        {
            progress.Report(new TransferProgress(phase, _read, totalBytes));
            _lastReport = _read;
        }
    }
}
