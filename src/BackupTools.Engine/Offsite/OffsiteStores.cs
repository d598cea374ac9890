using BackupTools.Engine.Encryption;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;
using BackupTools.Model;

namespace BackupTools.Engine.Offsite;

/// <summary>Opens what a policy's offsite and encryption sections name: the store, the key, and the sets to copy.</summary>
public static class OffsiteStores
{
    public static IRemoteStore Open(OffsitePolicy offsite)
    {
        var owner = $"Offsite '{offsite.Name}'";
        switch (offsite.Kind)
        {
            case OffsiteKind.AzureBlob when offsite.ConnectionStringSource is { } source:
                return new AzureBlobStore(SecretResolver.ResolveSource(source, owner, "connection string"), offsite.Container!, offsite.Prefix);
            case OffsiteKind.AzureBlob:
                // No secret in the policy: the default credential chain (in Azure Automation, the account's managed identity).
                return new AzureBlobStore(new Uri(offsite.AccountUrl!), new Azure.Identity.DefaultAzureCredential(), offsite.Container!, offsite.Prefix);
            default:
                Amazon.Runtime.AWSCredentials? credentials = null;
                if (offsite.AccessKeyIdSource is { } id && offsite.SecretAccessKeySource is { } secret)
                    credentials = new Amazon.Runtime.BasicAWSCredentials(SecretResolver.ResolveSource(id, owner, "access key id"),
                        SecretResolver.ResolveSource(secret, owner, "secret access key"));
                return new S3Store(offsite.Endpoint, offsite.Region, credentials, offsite.Bucket!, offsite.Prefix);
        }
    }

    /// <summary>How a copy to this offsite runs: resume records in the local repository, its bandwidth limit and lock.</summary>
    public static OffsiteCopyOptions CopyOptions(BackupPolicy policy, OffsitePolicy offsite, bool readBack = false) =>
        new(ResumeRecord.DirectoryFor(policy.Repository, offsite.Name))
        {
            Throttle = new Throttle(offsite.MaxMBps),
            ImmutableDays = offsite.ImmutableDays,
            ReadBack = readBack,
            Name = offsite.Name,
        };

    /// <summary>The policy's encryption key; a missing key is refused clearly (copies are never sent in the clear).</summary>
    public static EncryptionKey Key(BackupPolicy policy) => KeyFrom(policy.Encryption?.KeySource
        ?? throw new EncryptionKeyException("The policy has no encryption section: offsite copies are always encrypted. Add encryption: { keyFile: <path> } (New-BackupEncryptionKey writes one)."));

    /// <summary>encryption.local: the key new sets and blobs are stored under, or null when the local repository is not encrypted.
    /// A key that cannot be read throws: the caller fails the backup, never stores it in the clear.</summary>
    public static EncryptionKey? LocalKey(BackupPolicy policy) => policy.Encryption is { Local: true } ? Key(policy) : null;

    /// <summary>A key from its source ("file:/p" refused when others can read it, or "env:X").</summary>
    public static EncryptionKey KeyFrom(string source)
    {
        if (source.StartsWith("env:", StringComparison.Ordinal))
            return EncryptionKey.FromText(SecretResolver.ResolveSource(source, "Encryption", "key"), $"the environment variable {source[4..]}");
        var path = source[5..];
        if (File.Exists(path)) SecretResolver.ResolveSource(source, "Encryption", "key file"); // refuses a file others can read
        return EncryptionKey.Read(path);
    }

    /// <summary>The published sets an offsite repository takes (its copies list, else every target's), oldest first.</summary>
    /// <remarks>
    /// Sets the offsite's own (shorter) retention would remove there are not taken: the copy would send them back the
    /// hour after retention removed them, again and again.
    /// </remarks>
    public static IReadOnlyList<CatalogEntry> SetsFor(BackupPolicy policy, OffsitePolicy offsite, IReadOnlyCollection<string>? targets, DateTime? now = null)
    {
        var sets = BackupCatalog.List(policy.Repository)
            .Where(e => offsite.Copies is null || offsite.Copies.Contains(e.Manifest.Target, StringComparer.OrdinalIgnoreCase))
            .Where(e => targets is null || targets.Contains(e.Manifest.Target, StringComparer.OrdinalIgnoreCase))
            .ToList();
        if (offsite.Retention.Count > 0)
        {
            var expired = new HashSet<string>(StringComparer.Ordinal);
            foreach (var group in sets.GroupBy(e => e.Manifest.Target, StringComparer.OrdinalIgnoreCase))
            {
                if (policy.FindTarget(group.Key) is not { } target) continue;
                var retention = new Dictionary<string, TimeSpan>(target.Retention);
                foreach (var (type, keep) in offsite.Retention) retention[type] = keep;
                var items = Engines.EngineRegistry.For(target).RetentionItems(policy.Repository, target.Name, group.ToList());
                foreach (var v in Retention.RetentionPlanner.Plan(items, retention, now ?? DateTime.UtcNow).Where(v => v.Remove)) expired.Add(v.Item.Id);
            }
            sets = sets.Where(e => !expired.Contains(e.Manifest.Id)).ToList();
        }
        return sets.OrderBy(e => e.Manifest.EndTime).ToList();
    }

    /// <summary>The model versions an offsite repository takes (models in its copies list, else every model of the policy), oldest first.</summary>
    public static IReadOnlyList<Models.ModelManifest> ModelsFor(BackupPolicy policy, OffsitePolicy offsite, IReadOnlyCollection<string>? names) =>
        policy.Models
            .Where(m => offsite.Copies is null || offsite.Copies.Contains(m.Name, StringComparer.OrdinalIgnoreCase))
            .Where(m => names is null || names.Contains(m.Name, StringComparer.OrdinalIgnoreCase))
            .SelectMany(m => Models.ModelBackup.Versions(policy.Repository, m.Name))
            .OrderBy(m => m.Created).ToList();
}
