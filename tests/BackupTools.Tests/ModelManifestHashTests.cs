using System.Security.Cryptography;
using System.Text;
using BackupTools.Engine.Models;

namespace BackupTools.Tests;

/// <summary>The manifest hash, now fed to SHA-256 piece by piece, is the one recorded deployments and versions already hold.</summary>
public sealed class ModelManifestHashTests
{
    /// <summary>The whole-string form every earlier release used.</summary>
    private static string Reference(IEnumerable<ModelFile> files)
    {
        var text = new StringBuilder();
        foreach (var f in files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            text.Append(f.Path).Append('\0').Append(f.Sha256).Append('\0').Append(f.Mode);
            if (f.LinkTarget is not null) text.Append("\0->").Append(f.LinkTarget);
            text.Append('\n');
        }
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()))).ToLowerInvariant();
    }

    [Fact]
    public void TheHashIsTheOneTheWholeStringGave()
    {
        var random = new Random(5);
        var files = Enumerable.Range(0, 2000).Select(i => new ModelFile(
            i % 7 == 0 ? $"données/日本/{new string('x', random.Next(1, 600))}-{i}" : $"shard{i % 10}/part-{i}.jsonl",
            i, Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant(), i % 2 == 0 ? "644" : "600",
            DateTime.UnixEpoch, false, i % 11 == 0 ? $"../target-{i}" : null)).Reverse().ToList();
        Assert.Equal(Reference(files), ModelManifest.HashOf(files));
        Assert.Equal(Reference([]), ModelManifest.HashOf([]));
        Assert.NotEqual(ModelManifest.HashOf(files), ModelManifest.HashOf(files.Skip(1)));
    }
}
