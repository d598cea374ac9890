using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using BackupTools.Engine.Config;
using BackupTools.Engine.Encryption;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Offsite;

/// <summary>A config history's state offsite: the Git files that are not objects (HEAD, refs, config), and every object file with its SHA-256.</summary>
public sealed record ConfigOffsiteManifest(DateTime Created, string Head, IReadOnlyDictionary<string, string> Objects, IReadOnlyDictionary<string, string> State);

[JsonSerializable(typeof(ConfigOffsiteManifest))]
internal sealed partial class ConfigOffsiteJson : JsonSerializerContext;

/// <summary>
/// The config history (a Git repository) offsite, deduplicated: Git's object files are named by their content and
/// never change, so each goes once (_config/git/objects/...); the refs and HEAD go inside a manifest named by the time
/// and commit it describes (_config/manifests/&lt;time&gt;-&lt;commit&gt;.json.btenc), written after every object it needs,
/// never overwritten (so it can be locked). Restores fetch the newest manifest's objects into scratch and read the
/// history there, as locally.
/// </summary>
public static class OffsiteConfig
{
    private const string Root = "_config/";
    private const string Manifests = Root + "manifests/";

    public static async Task<SetCopyResult?> CopyAsync(string repositoryRoot, IRemoteStore store, EncryptionKey key, OffsiteCopyOptions options,
        Action<string>? log, CancellationToken ct)
    {
        var git = Path.Combine(repositoryRoot, ConfigRepository.DirectoryName, ".git");
        if (!Directory.Exists(git) || ConfigRepository.Head(repositoryRoot) is not { } head) return null; // no history yet: nothing to copy
        using (var repo = ConfigHistory.Open(repositoryRoot))
        {
            var when = repo.Head.Tip.Author.When.UtcDateTime;
            var existing = new List<string>();
            await foreach (var n in store.ListAsync(Manifests, ct)) existing.Add(n);
            if (existing.Any(n => n.Contains($"-{head}.json", StringComparison.Ordinal))) return new SetCopyResult(Manifests + head, 0, 1, 0);
            // The refs first, then the objects: every object the refs name is then among those listed after.
            var state = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var file in new[] { "HEAD", "config", "packed-refs" }.Where(f => File.Exists(Path.Combine(git, f))))
                state[file] = Convert.ToBase64String(await File.ReadAllBytesAsync(Path.Combine(git, file), ct));
            foreach (var file in Directory.EnumerateFiles(Path.Combine(git, "refs"), "*", SearchOption.AllDirectories))
                state[Path.GetRelativePath(git, file).Replace('\\', '/')] = Convert.ToBase64String(await File.ReadAllBytesAsync(file, ct));
            var there = new HashSet<string>(StringComparer.Ordinal);
            await foreach (var n in store.ListAsync(Root + "git/objects/", ct)) there.Add(n);
            var objects = new SortedDictionary<string, string>(StringComparer.Ordinal);
            int sent = 0, already = 0;
            long bytes = 0;
            foreach (var file in Directory.EnumerateFiles(Path.Combine(git, "objects"), "*", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(git, file).Replace('\\', '/');
                if (relative.EndsWith(".lock", StringComparison.Ordinal) || relative.Contains("/tmp_", StringComparison.Ordinal)) continue;
                var sha = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(file, ct))).ToLowerInvariant();
                objects[relative] = sha;
                var remote = $"{Root}git/{relative}{OffsiteCopier.Suffix}";
                if (there.Contains(remote)) { already++; continue; }
                var r = await OffsiteCopier.CopyFileAsync(file, remote, sha, store, key, options, ct);
                if (r.Sent) { sent++; bytes += r.Bytes; } else already++;
            }
            var manifest = new ConfigOffsiteManifest(DateTime.UtcNow, head, objects, state);
            var local = Path.Combine(options.StateDirectory, $"config-{Guid.NewGuid():N}.json");
            FileModes.CreatePrivateDirectory(options.StateDirectory);
            var json = JsonSerializer.SerializeToUtf8Bytes(manifest, ConfigOffsiteJson.Default.ConfigOffsiteManifest);
            await File.WriteAllBytesAsync(local, json, ct);
            try
            {
                await OffsiteCopier.CopyFileAsync(local, $"{Manifests}{when:yyyyMMddTHHmmssZ}-{head}.json{OffsiteCopier.Suffix}",
                    Convert.ToHexString(SHA256.HashData(json)).ToLowerInvariant(), store, key, options, ct);
            }
            finally { File.Delete(local); }
            log?.Invoke($"Copied the config history at {head[..12]} to {store.Describe}: {sent} object file(s) sent, {already} already there");
            return new SetCopyResult(Manifests + head, sent + 1, already, bytes + json.Length);
        }
    }

    /// <summary>Brings the newest config history there into &lt;scratchRoot&gt;/config (a Git repository without a work tree); false when there is none.</summary>
    public static async Task<bool> FetchAsync(IRemoteStore store, EncryptionKey key, string scratchRoot, Action<string>? log, CancellationToken ct)
    {
        var manifests = new List<string>();
        await foreach (var n in store.ListAsync(Manifests, ct))
            if (n.EndsWith(".json" + OffsiteCopier.Suffix, StringComparison.Ordinal)) manifests.Add(n);
        if (manifests.Count == 0) return false;
        var newest = manifests.Order(StringComparer.Ordinal).Last();
        ConfigOffsiteManifest manifest;
        await using (var plain = await OffsiteRead.OpenDecryptedAsync(store, newest, key, ct))
            manifest = await JsonSerializer.DeserializeAsync(plain, ConfigOffsiteJson.Default.ConfigOffsiteManifest, ct)
                ?? throw new InvalidDataException($"The config manifest {newest} in {store.Describe} is empty.");
        var git = Path.Combine(scratchRoot, ConfigRepository.DirectoryName, ".git");
        foreach (var (relative, content) in manifest.State)
            WriteInside(git, relative, Convert.FromBase64String(content));
        await Parallel.ForEachAsync(manifest.Objects, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (o, token) =>
        {
            var path = Inside(git, o.Key);
            FileModes.CreatePrivateDirectory(Path.GetDirectoryName(path)!);
            await OffsiteFetch.FetchFileAsync(store, key, $"{Root}git/{o.Key}{OffsiteCopier.Suffix}", path, o.Value, token);
        });
        log?.Invoke($"Fetched the config history at {manifest.Head[..12]} ({manifest.Objects.Count} object files) from {store.Describe}");
        return true;
    }

    /// <summary>A manifest's path, refused when it would lead out of the scratch repository (the manifest is data from elsewhere).</summary>
    private static string Inside(string git, string relative)
    {
        var full = Path.GetFullPath(Path.Combine(git, relative));
        if (!full.StartsWith(git + Path.DirectorySeparatorChar, StringComparison.Ordinal) || relative.Contains(".."))
            throw new InvalidDataException($"The offsite config manifest names '{relative}', which leads out of the repository; it is refused.");
        return full;
    }

    private static void WriteInside(string git, string relative, byte[] content)
    {
        var path = Inside(git, relative);
        FileModes.CreatePrivateDirectory(Path.GetDirectoryName(path)!);
        FileModes.WriteDurably(path, content);
    }
}
