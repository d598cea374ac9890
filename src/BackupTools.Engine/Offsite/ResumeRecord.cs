using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Offsite;

/// <summary>
/// What an upload in parts needs to resume after a crash: its store token and the encrypted header (wrapped data key,
/// nonce prefix), so the parts made again are byte-identical to those that arrived. Kept under
/// &lt;repository&gt;/_offsite/&lt;name&gt;/uploads, one small file per object, removed when the object is complete. The header
/// holds the data key only wrapped by the key-encryption key, as every stored object does.
/// </summary>
public sealed record ResumeRecord(string Remote, string Sha256, string Header, string Token)
{
    /// <summary>The parts that arrived, with their receipts (for stores that cannot list an upload's parts).</summary>
    public Dictionary<int, string> Parts { get; init; } = [];

    public static string DirectoryFor(string repositoryRoot, string offsiteName) => Path.Combine(repositoryRoot, "_offsite", offsiteName, "uploads");

    private static string FileFor(string directory, string remote) =>
        Path.Combine(directory, Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(remote)))[..32].ToLowerInvariant() + ".json");

    public static ResumeRecord? Read(string directory, string remote, string sha)
    {
        try
        {
            var record = JsonSerializer.Deserialize(File.ReadAllBytes(FileFor(directory, remote)), ResumeJson.Default.ResumeRecord);
            return record is not null && record.Remote == remote && record.Sha256 == sha ? record : null; // another file's or changed content: start afresh
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException) { return null; }
    }

    public void Write(string directory)
    {
        FileModes.CreatePrivateDirectory(directory);
        var path = FileFor(directory, Remote);
        var temp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        FileModes.WriteDurably(temp, JsonSerializer.SerializeToUtf8Bytes(this, ResumeJson.Default.ResumeRecord));
        File.Move(temp, path, overwrite: true);
    }

    public static void Remove(string directory, string remote)
    {
        try { File.Delete(FileFor(directory, remote)); } catch (DirectoryNotFoundException) { }
    }
}

[JsonSerializable(typeof(ResumeRecord))]
internal sealed partial class ResumeJson : JsonSerializerContext;
