using System.Security.Cryptography;

namespace BackupTools.Engine.Repository;

/// <summary>
/// A read-only pass-through that hashes what is read and, at <see cref="VerifyToEndAsync"/>, reads the rest and
/// compares with the SHA-256 the manifest recorded, so a restore never uses a file it has not proved good, without
/// reading it twice.
/// </summary>
public sealed class VerifyingReadStream(Stream inner, string expectedSha256, string name) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = inner.Read(buffer, offset, count);
        _hash.AppendData(buffer, offset, n);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        _hash.AppendData(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Reads whatever the consumer left and throws <see cref="BackupVerificationException"/> on a mismatch.</summary>
    public async Task VerifyToEndAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        while (await ReadAsync(buffer, cancellationToken) > 0) { }
        var actual = Convert.ToHexString(_hash.GetHashAndReset()).ToLowerInvariant();
        if (actual != expectedSha256)
            throw new BackupVerificationException(
                $"'{name}' reads with SHA-256 {actual} but its manifest recorded {expectedSha256}: the file is damaged. Run Test-DbBackup on its backup.");
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) { inner.Dispose(); _hash.Dispose(); }
        base.Dispose(disposing);
    }
}
