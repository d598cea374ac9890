using System.Text;
using BackupTools.Engine.Processes;
using BackupTools.Model;

namespace BackupTools.Engine.MariaDb;

/// <summary>
/// The one option file mariabackup reads (<c>--defaults-file</c>): an <c>!include</c> of the server's own option
/// file when the policy names one, then a <c>[mariabackup]</c> group with the login. It is 0600 in a 0700 directory
/// that is wiped afterwards, so the password is never on a command line or in a child's environment.
/// </summary>
/// <remarks>
/// Measured on 10.11: <c>--defaults-file</c> and <c>--defaults-extra-file</c> cannot be combined, and a <c>user=</c> in
/// the server's <c>[mariadbd]</c> group is taken as mariabackup's login unless a <c>[mariabackup]</c> group after it
/// overrides it; so the group comes last.
/// </remarks>
public static class MariaBackupOptionsFile
{
    public static string Write(PrivateTempDirectory directory, TargetPolicy target, string? password)
    {
        var text = new StringBuilder();
        if (target.ConfigFile is not null)
        {
            if (!File.Exists(target.ConfigFile))
                throw new FileNotFoundException(
                    $"Target '{target.Name}': configFile '{target.ConfigFile}' does not exist. Point it at the server's option file (e.g. /etc/mysql/my.cnf) or remove it.",
                    target.ConfigFile);
            text.Append("!include ").Append(target.ConfigFile).Append('\n');
        }
        text.Append("[mariabackup]\n");
        if (target.User is not null) text.Append("user=").Append(Quote(target.User)).Append('\n');
        if (password is not null) text.Append("password=").Append(Quote(password)).Append('\n');
        if (target.Socket is not null) text.Append("socket=").Append(Quote(target.Socket)).Append('\n');
        else
        {
            text.Append("host=").Append(Quote(target.Host!)).Append('\n');
            text.Append("port=").Append(target.Port ?? 3306).Append('\n');
        }
        if (target.DataDir is not null) text.Append("datadir=").Append(Quote(target.DataDir)).Append('\n');
        return directory.WriteSecretFile("mariabackup.cnf", text.ToString());
    }

    /// <summary>
    /// Option-file quoting: the outer quotes are stripped and backslash escapes are read, so a password holding
    /// <c># " ' \</c> or spaces arrives intact (a test logs in with such a password).
    /// </summary>
    internal static string Quote(string value)
    {
        var escaped = value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");
        return "\"" + escaped + "\"";
    }
}
