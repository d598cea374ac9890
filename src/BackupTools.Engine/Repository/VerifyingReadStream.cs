using System.Security.Cryptography;

namespace BackupTools.Engine.Repository;

/// <summary>
/// A read-only pass-through that hashes what is read and, at <see cref="VerifyToEndAsync"/>, reads the rest and
/// compares with the SHA-256 the manifest recorded, so a restore never uses a file it has not proved good, without
/// reading it twice.
/// </summary>
public sealed class VerifyingReadStream(Stream inner, string expectedSha256, string name) : ObservingReadStream(inner)
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    protected override void Observe(ReadOnlySpan<byte> chunk) => _hash.AppendData(chunk);

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

    protected override void Dispose(bool disposing)
    {
        if (disposing) _hash.Dispose();
        base.Dispose(disposing);
    }
}
