using BackupTools.Engine.Encryption;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Offsite;

/// <summary>
/// The one way an offsite object is read back decrypted. After a key rotation the object's data key, wrapped by the new
/// key, is in a small object beside it (&lt;name&gt;.&lt;keyid&gt;.rewrap: the whole re-wrapped header), since the object's
/// own bytes are never rewritten (and may be locked): a reader with that key puts that header in front of the stored
/// chunks; a reader with the key the bytes were written under reads them as they are.
/// </summary>
public static class OffsiteRead
{
    public const string RewrapSuffix = ".rewrap";

    public static string RewrapName(string name, string keyId) => $"{name}.{keyId}{RewrapSuffix}";

    /// <summary>Whether <paramref name="key"/> reads the object: the key its bytes were written under, or one it was rotated to.</summary>
    public static async Task<bool> ReadsAsync(IRemoteStore store, string name, IReadOnlyDictionary<string, string> metadata, EncryptionKey key, CancellationToken ct) =>
        metadata.GetValueOrDefault(OffsiteCopier.KeyIdKey) == key.Id || await store.StatAsync(RewrapName(name, key.Id), ct) is not null;

    public static async Task<Stream> OpenDecryptedAsync(IRemoteStore store, string name, EncryptionKey key, CancellationToken ct)
    {
        var metadata = (await store.StatAsync(name, ct))?.Metadata;
        var stored = await store.OpenReadAsync(name, ct);
        if (metadata?.GetValueOrDefault(OffsiteCopier.KeyIdKey) == key.Id) return new DecryptingStream(stored, key);
        if (await store.StatAsync(RewrapName(name, key.Id), ct) is null)
        {
            // Written under a key the policy lists as previous (encryption.previousKeyFiles): that key reads it.
            if (metadata?.GetValueOrDefault(OffsiteCopier.KeyIdKey) is { } writtenUnder)
            {
                EncryptionKey? previous = null;
                try { previous = LocalKeys.Find(writtenUnder); } catch (EncryptionKeyException) { }
                if (previous is not null) return new DecryptingStream(stored, previous);
            }
            // Not readable with this key: name every key that does read it (written under, and rotated to).
            var keys = new List<string> { metadata?.GetValueOrDefault(OffsiteCopier.KeyIdKey) ?? "?" };
            await foreach (var n in store.ListAsync(name + ".", ct))
                if (n.EndsWith(RewrapSuffix, StringComparison.Ordinal)) keys.Add(n[(name.Length + 1)..^RewrapSuffix.Length]);
            await stored.DisposeAsync();
            throw new EncryptionKeyException($"'{name}' in {store.Describe} is readable with key {string.Join(" or ", keys)}, but the key given is {key.Id}. " +
                "Give the key file the backups were made with, or the one they were rotated to (Update-BackupEncryptionKey).");
        }
        byte[] rewrapped;
        await using (var side = await store.OpenReadAsync(RewrapName(name, key.Id), ct))
        {
            rewrapped = new byte[EncryptedFormat.HeaderLength];
            await side.ReadExactlyAsync(rewrapped, ct);
        }
        // Skip the stored header (wrapped by the old key) and read the rotated one instead.
        var skip = new byte[EncryptedFormat.HeaderLength];
        await stored.ReadExactlyAsync(skip, ct);
        return new DecryptingStream(new HeaderFirstStream(rewrapped, stored), key);
    }

    /// <summary>A header's bytes, then the rest of another stream.</summary>
    private sealed class HeaderFirstStream(byte[] header, Stream rest) : ReadOnlyStream
    {
        private int _at;
        public override int Read(Span<byte> buffer)
        {
            if (_at < header.Length)
            {
                var n = Math.Min(buffer.Length, header.Length - _at);
                header.AsSpan(_at, n).CopyTo(buffer);
                _at += n;
                return n;
            }
            return rest.Read(buffer);
        }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            if (_at < header.Length) return Read(buffer.Span);
            return await rest.ReadAsync(buffer, ct);
        }
        protected override void Dispose(bool disposing)
        {
            if (disposing) rest.Dispose();
            base.Dispose(disposing);
        }
        public override async ValueTask DisposeAsync()
        {
            await rest.DisposeAsync();
            await base.DisposeAsync();
        }
    }
}

/// <summary>What a key rotation of an offsite repository did.</summary>
public sealed record KeyRotationResult(int Rewrapped, int AlreadyNew, IReadOnlyList<string> Failed);

/// <summary>
/// Rotation of the key-encryption key offsite: each object's data key is re-wrapped by the new key into a small object
/// beside it (&lt;name&gt;.&lt;new key id&gt;.rewrap); no backup data is sent again and no object is rewritten, so locked
/// objects rotate too. Objects the new key already reads are passed over, so an interrupted rotation is finished by
/// running it again. Until the policy moves to the new key, the old one still reads everything.
/// </summary>
public static class OffsiteKeyRotation
{
    public static async Task<KeyRotationResult> RunAsync(IRemoteStore store, EncryptionKey oldKey, EncryptionKey newKey, Action<string>? log, CancellationToken ct,
        DateTimeOffset? lockUntil = null)
    {
        int rewrapped = 0, already = 0;
        var failed = new List<string>();
        var names = new List<string>();
        await foreach (var name in store.ListAsync("", ct)) names.Add(name);
        var present = names.ToHashSet(StringComparer.Ordinal);
        foreach (var name in names.Where(n => n.EndsWith(OffsiteCopier.Suffix, StringComparison.Ordinal)))
        {
            ct.ThrowIfCancellationRequested();
            if (present.Contains(OffsiteRead.RewrapName(name, newKey.Id))) { already++; continue; }
            var meta = (await store.StatAsync(name, ct))?.Metadata;
            if (meta is null) continue;
            if (meta.GetValueOrDefault(OffsiteCopier.KeyIdKey) == newKey.Id) { already++; continue; }
            try
            {
                // The header the old key unwraps: the object's own, or the one of an earlier rotation to the old key.
                var source = meta.GetValueOrDefault(OffsiteCopier.KeyIdKey) == oldKey.Id ? name : OffsiteRead.RewrapName(name, oldKey.Id);
                var header = new byte[EncryptedFormat.HeaderLength];
                await using (var stored = await store.OpenReadAsync(source, ct))
                    await stored.ReadExactlyAsync(header, ct);
                var next = EncryptedFormat.Rewrap(header, oldKey, newKey);
                await store.PutAsync(OffsiteRead.RewrapName(name, newKey.Id), next, new Dictionary<string, string> { [OffsiteCopier.KeyIdKey] = newKey.Id }, lockUntil, ct);
                rewrapped++;
            }
            catch (Exception e) when (e is EncryptionKeyException or EncryptedDataException or IOException
                                          || e.GetType().Name is "RequestFailedException" or "AmazonS3Exception")
            {
                failed.Add($"{name}: {e.Message}");
                log?.Invoke($"Not rotated: {name}: {e.Message}");
            }
        }
        return new KeyRotationResult(rewrapped, already, failed);
    }
}
