using System.Text;
using System.Text.RegularExpressions;

namespace BackupTools.Engine.Config;

/// <summary>
/// Where a config file lives in the history, and which files never go there. A file keeps its full path under the
/// repository (/etc/docker/daemon.json → etc/docker/daemon.json; C:\ProgramData\app\x.ini → C/ProgramData/app/x.ini),
/// so the history reads like the machine's own tree and every path maps back.
/// </summary>
public static class ConfigPaths
{
    /// <summary>
    /// Names that are secrets, not configuration (etckeeper's users found /etc/shadow in their history): password and
    /// group shadow files, private keys and key stores. Matched against the file name; the policy's config.exclude and
    /// -Exclude add more (a pattern with '/' is matched against the whole path).
    /// </summary>
    public static readonly string[] DefaultSecretPatterns =
    [
        "shadow", "shadow-", "gshadow", "gshadow-", "*.key", "*.pem", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.keytab",
        "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "ssh_host_*_key", "*.kdbx", ".netrc", ".pgpass", "*.gpg", "secring.*",
    ];

    /// <summary>The path inside the repository for an absolute path of this machine (or of Windows when <paramref name="windows"/>).</summary>
    public static string ToRepositoryPath(string fullPath, bool? windows = null)
    {
        if ((windows ?? OperatingSystem.IsWindows()) && fullPath.Length >= 2 && fullPath[1] == ':')
            return fullPath[0].ToString().ToUpperInvariant() + "/" + fullPath[2..].Replace('\\', '/').TrimStart('/');
        return fullPath.Replace('\\', '/').TrimStart('/');
    }

    /// <summary>The machine's absolute path for a path inside the repository.</summary>
    public static string FromRepositoryPath(string repositoryPath, bool? windows = null)
    {
        if ((windows ?? OperatingSystem.IsWindows()) && repositoryPath.Length >= 2 && repositoryPath[1] == '/')
            return repositoryPath[0] + ":\\" + repositoryPath[2..].Replace('/', '\\');
        return "/" + repositoryPath;
    }

    /// <summary>Why a file is kept out of the history, or null when it may go in.</summary>
    public static string? SecretReason(string fullPath, IEnumerable<string> patterns)
    {
        var name = Path.GetFileName(fullPath);
        foreach (var pattern in patterns)
        {
            var subject = pattern.Contains('/') ? fullPath.Replace('\\', '/') : name;
            if (Glob(pattern).IsMatch(subject)) return $"matches the secret pattern '{pattern}'";
        }
        return ContainsPrivateKey(fullPath) ? "holds a private key (-----BEGIN ... PRIVATE KEY-----)" : null;
    }

    /// <summary>The whole file is read: a key appended after 100 KB of certificates is still a key.</summary>
    private static bool ContainsPrivateKey(string path)
    {
        try
        {
            return SecretScanner.PrivateKey().IsMatch(Encoding.Latin1.GetString(File.ReadAllBytes(path)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static Regex Glob(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace("\\*", ".*").Replace("\\?", ".") + "$", RegexOptions.CultureInvariant);
}
