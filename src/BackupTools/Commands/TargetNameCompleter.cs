using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using BackupTools.Engine.Policy;

namespace BackupTools.Commands;

/// <summary>Tab completion of -Target from the target names in the policy (the -Policy already typed, else the default).</summary>
public sealed class TargetNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var policyPath = fakeBoundParameters.Contains("Policy") ? fakeBoundParameters["Policy"]?.ToString() : null;
        IEnumerable<string> names;
        try
        {
            names = TargetNames(policyPath);
        }
        catch (Exception)
        {
            // Completion must never throw at the prompt; a broken policy just completes nothing.
            yield break;
        }
        var pattern = new WildcardPattern(wordToComplete.Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
        foreach (var name in names.Where(pattern.IsMatch).Order(StringComparer.OrdinalIgnoreCase))
            yield return new CompletionResult(name, name, CompletionResultType.ParameterValue, name);
    }

    // Separate method so the engine (private context) is only touched when completion actually runs.
    private static IEnumerable<string> TargetNames(string? policyPath) =>
        PolicyParser.Load(policyPath).Targets.Select(t => t.Name).ToList();
}
