using System.Management.Automation;
using BackupTools.Engine.Core;

namespace BackupTools.Commands;

/// <summary>Turns the engine's typed exceptions into error records with the stable id and real category the engine's table gives.</summary>
internal static class EngineErrors
{
    public static ErrorRecord ToErrorRecord(Exception e, object? target)
    {
        if (e is ItemNotFoundException) return new ErrorRecord(e, "TargetNotFound", ErrorCategory.ObjectNotFound, target);
        var (id, category, about) = ErrorIds.Classify(e);
        return new ErrorRecord(e, id, Enum.Parse<ErrorCategory>(category), target ?? about);
    }
}
