using System.Security.Cryptography;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Engine.Offsite;

/// <summary>
/// Test-BackupTarget -Offsite: what a copy there needs, checked the way a copy does it: the secrets and the key can be
/// read, the store answers a listing, an object can be written (encrypted), read back and removed, and objects can be
/// locked when immutableDays asks for it. One finding per check, with the fix.
/// </summary>
public static class OffsiteProbe
{
    public static async Task<IReadOnlyList<ReadinessFinding>> RunAsync(BackupPolicy policy, OffsitePolicy offsite, CancellationToken ct)
    {
        var who = $"offsite:{offsite.Name}";
        var findings = new List<ReadinessFinding>();
        void Add(string check, ReadinessLevel level, string detail, string? fix = null) =>
            findings.Add(new ReadinessFinding { Target = who, Check = check, Level = level, Detail = detail, Fix = fix, PolicyPath = policy.Path });
        EncryptionKey key;
        try
        {
            key = OffsiteStores.Key(policy);
            Add("EncryptionKey", ReadinessLevel.Ok, $"key {key.Id} can be read");
        }
        catch (Exception e) when (e is EncryptionKeyException or SecretUnavailableException or IOException or UnauthorizedAccessException)
        {
            Add("EncryptionKey", ReadinessLevel.Error, e.Message, "New-BackupEncryptionKey -Path <file>, and encryption.keyFile in the policy");
            return findings;
        }
        IRemoteStore store;
        try { store = OffsiteStores.Open(offsite); }
        catch (Exception e) when (e is SecretUnavailableException or FormatException or ArgumentException or IOException)
        {
            Add("Credentials", ReadinessLevel.Error, e.Message, "Set the variable or file the policy names for this offsite repository.");
            return findings;
        }
        try
        {
            await foreach (var _ in store.ListAsync("", ct)) break;
            Add("Reachable", ReadinessLevel.Ok, $"{store.Describe} answers");
            var probe = $"_probe/{Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant()}{OffsiteCopier.Suffix}";
            var plain = RandomNumberGenerator.GetBytes(64);
            var sealedBytes = new PartEncryptor(key, null, plain.Length);
            var local = Path.GetTempFileName();
            try
            {
                await File.WriteAllBytesAsync(local, plain, ct);
                using (var h = File.OpenHandle(local)) await store.PutAsync(probe, sealedBytes.Make(h, 0), new Dictionary<string, string>(), null, ct);
                await using (var back = await store.OpenReadAsync(probe, ct))
                await using (var decrypted = new DecryptingStream(back, key))
                {
                    using var copy = new MemoryStream();
                    await decrypted.CopyToAsync(copy, ct);
                    if (!copy.ToArray().AsSpan().SequenceEqual(plain)) throw new InvalidDataException("the object read back is not the one written");
                }
                await store.DeleteAsync(probe, ct);
                Add("Writable", ReadinessLevel.Ok, "an encrypted object was written, read back and removed");
            }
            finally { File.Delete(local); }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Add(findings.Any(f => f.Check == "Reachable") ? "Writable" : "Reachable", ReadinessLevel.Error, $"{store.Describe}: {e.Message}",
                "Check the endpoint, the credentials and that they may write (Azure: Storage Blob Data Contributor; S3: s3:PutObject, GetObject, DeleteObject, ListBucket).");
            return findings;
        }
        if (offsite.ImmutableDays is { } days)
        {
            var (available, reason) = await store.LockAvailableAsync(ct);
            Add("Immutability", available ? ReadinessLevel.Ok : ReadinessLevel.Error,
                available ? $"objects can be locked for {days} days" : reason,
                available ? null : "Enable version-level immutability on the container (Azure) or Object Lock on the bucket (S3), or remove immutableDays.");
        }
        return findings;
    }
}
