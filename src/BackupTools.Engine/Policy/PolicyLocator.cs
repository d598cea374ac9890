namespace BackupTools.Engine.Policy;

/// <summary>Finds the policy file: an explicit path, else $BACKUPTOOLS_POLICY, else the platform default.</summary>
public static class PolicyLocator
{
    public const string EnvironmentVariable = "BACKUPTOOLS_POLICY";

    public static string DefaultPath => OperatingSystem.IsWindows()
        ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.CommonApplicationData), "BackupTools", "policy.yml")
        : "/etc/backuptools/policy.yml";

    /// <summary>Returns the full path of the policy to use and how it was chosen (for messages).</summary>
    public static (string Path, string ChosenBy) Resolve(string? explicitPath)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
            return (Path.GetFullPath(explicitPath), "-Policy");
        var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv))
            return (Path.GetFullPath(fromEnv), "$env:" + EnvironmentVariable);
        return (DefaultPath, "the default location");
    }
}
