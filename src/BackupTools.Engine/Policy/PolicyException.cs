using BackupTools.Model;

namespace BackupTools.Engine.Policy;

/// <summary>The policy cannot be used; <see cref="Problems"/> says every place that is wrong.</summary>
public sealed class PolicyException : Exception
{
    public PolicyException(string path, IReadOnlyList<PolicyProblem> problems)
        : base(problems.Count == 1
            ? $"The policy {path} is not valid: {problems[0]}"
            : $"The policy {path} has {problems.Count} problems; the first: {problems[0]}. Run Test-BackupPolicy -Policy '{path}' to see them all.")
    {
        Path = path;
        Problems = problems;
    }

    public string Path { get; }
    public IReadOnlyList<PolicyProblem> Problems { get; }
}

/// <summary>No policy file where we looked.</summary>
public sealed class PolicyNotFoundException(string path, string chosenBy) : Exception(
    $"No policy file at '{path}' (chosen by {chosenBy}). Create one (see Get-Help about_BackupTools_Policy), " +
    $"pass -Policy <path>, or set $env:{PolicyLocator.EnvironmentVariable}.")
{
    public string Path { get; } = path;
}
