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
        return offsite.Kind switch
        {
            OffsiteKind.AzureBlob when offsite.ConnectionStringSource is { } source =>
                new AzureBlobStore(SecretResolver.ResolveSource(source, owner, "connection string"), offsite.Container!, offsite.Prefix),
            OffsiteKind.AzureBlob => throw new NotSupportedException(
                $"{owner}: an account URL with a managed identity is not supported by this version yet; give connectionStringEnv or connectionStringFile."),
            _ => throw new NotSupportedException($"{owner}: S3 copies are not built in this version yet; nothing can be copied there. Use an azureBlob offsite."),
        };
    }

    /// <summary>The policy's encryption key; a missing key is refused clearly (copies are never sent in the clear).</summary>
    public static EncryptionKey Key(BackupPolicy policy)
    {
        var source = policy.Encryption?.KeySource
            ?? throw new EncryptionKeyException("The policy has no encryption section: offsite copies are always encrypted. Add encryption: { keyFile: <path> } (New-BackupEncryptionKey writes one).");
        if (source.StartsWith("env:", StringComparison.Ordinal))
            return EncryptionKey.FromText(SecretResolver.ResolveSource(source, "Encryption", "key"), $"the environment variable {source[4..]}");
        var path = source[5..];
        if (File.Exists(path)) SecretResolver.ResolveSource(source, "Encryption", "key file"); // refuses a file others can read
        return EncryptionKey.Read(path);
    }

    /// <summary>The published sets an offsite repository takes (its copies list, else every target's), oldest first.</summary>
    public static IReadOnlyList<CatalogEntry> SetsFor(BackupPolicy policy, OffsitePolicy offsite, IReadOnlyCollection<string>? targets) =>
        BackupCatalog.List(policy.Repository)
            .Where(e => offsite.Copies is null || offsite.Copies.Contains(e.Manifest.Target, StringComparer.OrdinalIgnoreCase))
            .Where(e => targets is null || targets.Contains(e.Manifest.Target, StringComparer.OrdinalIgnoreCase))
            .OrderBy(e => e.Manifest.EndTime).ToList();
}
