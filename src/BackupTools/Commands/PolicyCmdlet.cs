using System.Management.Automation;
using BackupTools.Engine.Policy;
using BackupTools.Model;

namespace BackupTools.Commands;

/// <summary>Base for cmdlets that read the policy file: the shared -Policy parameter and how its failures surface.</summary>
public abstract class PolicyCmdlet : AsyncPSCmdlet
{
    /// <summary>Path of the policy file; else $env:BACKUPTOOLS_POLICY, else the platform default.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("PolicyPath")]
    [ValidateNotNullOrEmpty]
    public string? Policy { get; set; }

    /// <summary>The -Policy path made absolute against the current PowerShell location (not the process's).</summary>
    protected string? ResolvedPolicyPath { get; private set; }

    protected override void PrepareRecord() => ResolvedPolicyPath = ResolvePath(this, Policy);

    internal static string? ResolvePath(PSCmdlet cmdlet, string? path) =>
        path is null ? null : cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    /// <summary>Loads the policy; a missing or invalid one stops the cmdlet with an error that says what to fix.</summary>
    protected BackupPolicy LoadPolicy()
    {
        var policy = PolicyParser.Load(ResolvedPolicyPath);
        // Sets stored encrypted (encryption.local) are read with the key their header names, among this policy's keys
        // only (read only then, so a policy whose key is elsewhere still lists and reports).
        BackupTools.Engine.Encryption.LocalKeys.Use(policy.Encryption is { } encryption
            ? encryption.PreviousKeySources.Prepend(encryption.KeySource)
                .Select(source => (source, (Func<BackupTools.Engine.Encryption.EncryptionKey>)(() => BackupTools.Engine.Offsite.OffsiteStores.KeyFrom(source))))
            : []);
        return policy;
    }

    /// <summary>A target's sets fetched from an offsite repository into a scratch repository (the caller disposes it); none there is an error.</summary>
    /// <param name="pointInTime">When given, only the sets a restore to that point reads are brought (the engine decides from the manifests).</param>
    protected async Task<BackupTools.Engine.Repository.ScratchDirectory> FetchTargetAsync(BackupPolicy policy, TargetPolicy target, string offsiteName, DateTime? pointInTime = null)
    {
        var (offsite, store, key) = OpenOffsite(policy, offsiteName);
        var fetched = BackupTools.Engine.Repository.ScratchDirectory.Create(policy.Repository, "offsite-" + target.Name);
        try
        {
            WriteProgressAsync(new ProgressRecord(1, $"Fetching {target.Name} from offsite {offsite.Name}", "Downloading and decrypting"));
            var engine = BackupTools.Engine.Engines.EngineRegistry.For(target);
            Func<string, IReadOnlyList<BackupTools.Engine.Repository.CatalogEntry>, IReadOnlySet<string>?>? needed =
                pointInTime is { } t ? (root, entries) => engine.SetsNeeded(root, target.Name, entries, t) : null;
            if (await BackupTools.Engine.Offsite.OffsiteFetch.FetchTargetAsync(store, key, offsite.Name, target.Name, fetched.Path, WriteVerboseAsync, CancelToken, needed) == 0)
                throw new ItemNotFoundException($"Offsite '{offsite.Name}' holds no sets of {target.Name}.");
            return fetched;
        }
        catch
        {
            fetched.Dispose();
            throw;
        }
    }

    /// <summary>The offsite repository's newest config history, fetched into a scratch repository (the caller disposes it).</summary>
    protected async Task<BackupTools.Engine.Repository.ScratchDirectory> FetchConfigHistoryAsync(BackupPolicy policy, string offsiteName)
    {
        var (offsite, store, key) = OpenOffsite(policy, offsiteName);
        var scratch = BackupTools.Engine.Repository.ScratchDirectory.Create(policy.Repository, "offsite-config");
        try
        {
            if (!await BackupTools.Engine.Offsite.OffsiteConfig.FetchAsync(store, key, scratch.Path, WriteVerboseAsync, CancelToken))
                throw new ItemNotFoundException($"Offsite '{offsite.Name}' holds no config history. Copy-BackupSet -Offsite {offsite.Name} copies it.");
            return scratch;
        }
        catch
        {
            scratch.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The offsite repository named (or the policy's only one when none is named), opened with its secret, and the
    /// policy's encryption key: what every -Offsite parameter needs, with one set of errors.
    /// </summary>
    protected (OffsitePolicy Offsite, BackupTools.Engine.Offsite.IRemoteStore Store, BackupTools.Engine.Encryption.EncryptionKey Key) OpenOffsite(
        BackupPolicy policy, string? name) => Open(policy, FindOffsite(policy, name));

    /// <summary>The offsite repository named, or the policy's only one when none is named; none or an unknown name is refused with the names it has.</summary>
    protected static OffsitePolicy FindOffsite(BackupPolicy policy, string? name)
    {
        var names = string.Join(", ", policy.Offsite.Select(o => o.Name));
        return name is null
            ? policy.Offsite.Count == 1 ? policy.Offsite[0] : throw new ArgumentException(policy.Offsite.Count == 0
                ? $"The policy {policy.Path} has no offsite section: there is no offsite repository. See about_BackupTools_Policy (offsite)."
                : $"The policy has {policy.Offsite.Count} offsite repositories; name one with -Offsite ({names}).")
            : policy.Offsite.FirstOrDefault(o => o.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
              ?? throw new ItemNotFoundException($"The policy has no offsite '{name}'. Its offsite repositories: {(names.Length > 0 ? names : "none")}.");
    }

    /// <summary>An offsite repository's store, opened with its secret, and the policy's key.</summary>
    protected static (OffsitePolicy Offsite, BackupTools.Engine.Offsite.IRemoteStore Store, BackupTools.Engine.Encryption.EncryptionKey Key) Open(
        BackupPolicy policy, OffsitePolicy offsite) =>
        (offsite, BackupTools.Engine.Offsite.OffsiteStores.Open(offsite), BackupTools.Engine.Offsite.OffsiteStores.Key(policy));

    /// <summary>The named targets (all when none are named); an unknown name is a non-terminating error.</summary>
    protected IEnumerable<TargetPolicy> SelectTargets(BackupPolicy policy, IEnumerable<string>? names)
    {
        if (names is null)
        {
            foreach (var t in policy.Targets) yield return t;
            yield break;
        }
        foreach (var name in names)
        {
            var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
            var matches = policy.Targets.Where(t => pattern.IsMatch(t.Name)).ToList();
            if (matches.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(name))
                WriteErrorAsync(new ErrorRecord(
                    new ItemNotFoundException($"The policy {policy.Path} has no target '{name}'. Its targets: {string.Join(", ", policy.Targets.Select(t => t.Name))}."),
                    "TargetNotFound", ErrorCategory.ObjectNotFound, name));
            foreach (var t in matches) yield return t;
        }
    }
}
