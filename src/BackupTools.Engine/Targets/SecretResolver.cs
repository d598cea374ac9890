using BackupTools.Engine.Processes;
using BackupTools.Model;

namespace BackupTools.Engine.Targets;

/// <summary>A secret the policy points at could not be read.</summary>
public sealed class SecretUnavailableException(string message) : Exception(message);

/// <summary>
/// Reads a target's password from where the policy says (an environment variable or a 0600 file), or takes the one
/// given with -Credential. The value is only ever held in memory; its source variable is marked so no child inherits it.
/// </summary>
public static class SecretResolver
{
    public static string? Resolve(TargetPolicy target, string? explicitPassword)
    {
        if (explicitPassword is not null) return explicitPassword;
        return target.PasswordSource is { } source
            ? ResolveSource(source, $"Target '{target.Name}'", "password", "Set it for this session or job, or pass -Credential.")
            : null;
    }

    /// <summary>
    /// Reads a secret named by its source: <c>env:NAME</c> (the variable is marked so no child inherits it),
    /// <c>file:/path</c> (refused when group or others can read it), or <c>value:text</c> for a setting that is not secret.
    /// </summary>
    /// <param name="owner">Who needs it, for messages ("Target 'main-db'", "Alert channel 'slack'").</param>
    public static string ResolveSource(string source, string owner, string what, string missingVariableHint = "Set it for this session or job.")
    {
        if (source.StartsWith("value:", StringComparison.Ordinal)) return source[6..];
        if (source.StartsWith("env:", StringComparison.Ordinal))
        {
            var name = source[4..];
            ProcessRunner.RegisterSecretVariable(name);
            return Environment.GetEnvironmentVariable(name)
                ?? throw new SecretUnavailableException(
                    $"{owner}: the policy takes the {what} from the environment variable {name}, which is not set. {missingVariableHint}");
        }
        var path = source[5..];
        if (!File.Exists(path))
            throw new SecretUnavailableException($"{owner}: the {what} file '{path}' named in the policy does not exist.");
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
                throw new SecretUnavailableException(
                    $"{owner}: the {what} file '{path}' can be read by other users (mode {Convert.ToString((int)mode, 8)}). " +
                    $"Run: chmod 600 '{path}'.");
        }
        return File.ReadAllText(path).TrimEnd('\r', '\n');
    }
}
