using System.Management.Automation;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Policy;
using BackupTools.Engine.Processes;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;

using BackupTools.Engine.Elasticsearch;
using BackupTools.Engine.Redis;

namespace BackupTools.Commands;

/// <summary>Turns the engine's typed exceptions into error records with a stable id and a real category.</summary>
internal static class EngineErrors
{
    public static ErrorRecord ToErrorRecord(Exception e, object? target) => e switch
    {
        PolicyNotFoundException p => new ErrorRecord(p, "PolicyNotFound", ErrorCategory.ObjectNotFound, target ?? p.Path),
        PolicyException p => new ErrorRecord(p, "PolicyInvalid", ErrorCategory.InvalidData, target ?? p.Path),
        SecretUnavailableException => new ErrorRecord(e, "SecretUnavailable", ErrorCategory.AuthenticationError, target),
        ToolNotFoundException t => new ErrorRecord(t, "ToolNotFound", ErrorCategory.NotInstalled, target ?? t.Tool),
        ToolFailedException t => new ErrorRecord(t, "ToolFailed", ErrorCategory.InvalidResult, target ?? t.Tool),
        TargetLockedException => new ErrorRecord(e, "TargetLocked", ErrorCategory.ResourceBusy, target),
        MariaBackupFailedException => new ErrorRecord(e, "MariaBackupFailed", ErrorCategory.InvalidResult, target),
        NoFullBackupException => new ErrorRecord(e, "NoFullBackup", ErrorCategory.ObjectNotFound, target),
        BinlogHoleException => new ErrorRecord(e, "BinlogHole", ErrorCategory.InvalidData, target),
        EmptyBackupException => new ErrorRecord(e, "BackupEmpty", ErrorCategory.InvalidResult, target),
        RestoreWindowException => new ErrorRecord(e, "PointInTimeOutsideWindow", ErrorCategory.InvalidArgument, target),
        RestoreChainException => new ErrorRecord(e, "RestoreChainBroken", ErrorCategory.InvalidData, target),
        RestoreReplaceException => new ErrorRecord(e, "ReplaceRefused", ErrorCategory.ResourceBusy, target),
        BackupTools.Engine.Models.ModelRestoreException m => new ErrorRecord(e, "ModelRestoreFailed", ErrorCategory.InvalidResult, target ?? m.Step),
        RestoreStepException s => new ErrorRecord(e, "RestoreStepFailed", ErrorCategory.InvalidResult, target ?? s.Step),
        ItemNotFoundException => new ErrorRecord(e, "TargetNotFound", ErrorCategory.ObjectNotFound, target),
        NoSnapshotException => new ErrorRecord(e, "NoSnapshot", ErrorCategory.ObjectNotFound, target),
        EsAuthException => new ErrorRecord(e, "ElasticsearchAuth", ErrorCategory.AuthenticationError, target),
        EsRepositoryMissingException => new ErrorRecord(e, "SnapshotRepositoryMissing", ErrorCategory.ObjectNotFound, target),
        EsSnapshotFailedException => new ErrorRecord(e, "SnapshotFailed", ErrorCategory.InvalidResult, target),
        EsRestoreConflictException => new ErrorRecord(e, "RestoreConflict", ErrorCategory.ResourceExists, target),
        EsRequestException => new ErrorRecord(e, "ElasticsearchError", ErrorCategory.InvalidResult, target),
        RedisAuthException => new ErrorRecord(e, "RedisAuth", ErrorCategory.AuthenticationError, target),
        RedisPermissionException => new ErrorRecord(e, "RedisPermission", ErrorCategory.PermissionDenied, target),
        RedisBackupException => new ErrorRecord(e, "RedisBackup", ErrorCategory.InvalidResult, target),
        RedisConnectException => new ErrorRecord(e, "RedisConnect", ErrorCategory.ConnectionError, target),
        RedisReplyException => new ErrorRecord(e, "RedisError", ErrorCategory.InvalidResult, target),
        RdbFormatException => new ErrorRecord(e, "RdbFormat", ErrorCategory.InvalidData, target),
        RedisRestoreException s => new ErrorRecord(e, "RestoreStepFailed", ErrorCategory.InvalidResult, target ?? s.Step),
        NotSupportedException => new ErrorRecord(e, "EngineNotSupported", ErrorCategory.NotImplemented, target),
        // MySqlConnector's exception lives in the engine's load context; its name is enough to classify it.
        _ when e.GetType().Name == "MySqlException" => new ErrorRecord(e, "DatabaseError", ErrorCategory.ConnectionError, target),
        BackupVerificationException => new ErrorRecord(e, "BackupVerificationFailed", ErrorCategory.InvalidResult, target),
        UnauthorizedAccessException => new ErrorRecord(e, "AccessDenied", ErrorCategory.PermissionDenied, target),
        IOException => new ErrorRecord(e, "RepositoryIOError", ErrorCategory.WriteError, target),
        _ => new ErrorRecord(e, "UnexpectedError", ErrorCategory.NotSpecified, target),
    };
}
