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
        var source = target.PasswordSource;
        if (source is null) return null;
        if (source.StartsWith("env:", StringComparison.Ordinal))
        {
            var name = source[4..];
            ProcessRunner.RegisterSecretVariable(name);
            return Environment.GetEnvironmentVariable(name)
                ?? throw new SecretUnavailableException(
                    $"Target '{target.Name}': the policy takes the password from the environment variable {name}, which is not set. " +
                    $"Set it for this session or job, or pass -Credential.");
        }
        var path = source[5..];
        if (!File.Exists(path))
            throw new SecretUnavailableException($"Target '{target.Name}': the password file '{path}' named by passwordFile does not exist.");
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
                throw new SecretUnavailableException(
                    $"Target '{target.Name}': the password file '{path}' can be read by other users (mode {Convert.ToString((int)mode, 8)}). " +
                    $"Run: chmod 600 '{path}'.");
        }
        return File.ReadAllText(path).TrimEnd('\r', '\n');
    }
}
