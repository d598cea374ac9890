using BackupTools.Engine.Elasticsearch;
using BackupTools.Engine.Engines;
using BackupTools.Engine.MariaDb;
using BackupTools.Engine.Models;
using BackupTools.Engine.Policy;
using BackupTools.Engine.Processes;
using BackupTools.Engine.Redis;
using BackupTools.Engine.Repository;
using BackupTools.Engine.Targets;

namespace BackupTools.Engine.Core;

/// <summary>
/// The stable error id and category (a PowerShell ErrorCategory name) of every typed exception the engine throws, and
/// what the error is about when the caller names nothing: the one table, kept beside the exceptions it knows.
/// </summary>
public static class ErrorIds
{
    public static (string Id, string Category, object? About) Classify(Exception e) => e switch
    {
        MariaDbReleaseMismatchException => ("MariaDbReleaseMismatch", "NotInstalled", null),
        ServerRemovalException r => Classify(r.InnerException!),
        PolicyNotFoundException p => ("PolicyNotFound", "ObjectNotFound", p.Path),
        PolicyException p => ("PolicyInvalid", "InvalidData", p.Path),
        SecretUnavailableException => ("SecretUnavailable", "AuthenticationError", null),
        ToolNotFoundException t => ("ToolNotFound", "NotInstalled", t.Tool),
        ToolFailedException t => ("ToolFailed", "InvalidResult", t.Tool),
        TargetLockedException => ("TargetLocked", "ResourceBusy", null),
        MariaBackupFailedException => ("MariaBackupFailed", "InvalidResult", null),
        NoFullBackupException => ("NoFullBackup", "ObjectNotFound", null),
        BinlogHoleException => ("BinlogHole", "InvalidData", null),
        EmptyBackupException => ("BackupEmpty", "InvalidResult", null),
        RestoreWindowException => ("PointInTimeOutsideWindow", "InvalidArgument", null),
        RestoreChainException => ("RestoreChainBroken", "InvalidData", null),
        RestoreReplaceException => ("ReplaceRefused", "ResourceBusy", null),
        ModelRestoreException m => ("ModelRestoreFailed", "InvalidResult", m.Step),
        RestoreStepException s => ("RestoreStepFailed", "InvalidResult", s.Step),
        NoSnapshotException => ("NoSnapshot", "ObjectNotFound", null),
        EsAuthException => ("ElasticsearchAuth", "AuthenticationError", null),
        EsRepositoryMissingException => ("SnapshotRepositoryMissing", "ObjectNotFound", null),
        EsSnapshotFailedException => ("SnapshotFailed", "InvalidResult", null),
        EsRestoreConflictException => ("RestoreConflict", "ResourceExists", null),
        EsRequestException => ("ElasticsearchError", "InvalidResult", null),
        RedisAuthException => ("RedisAuth", "AuthenticationError", null),
        RedisPermissionException => ("RedisPermission", "PermissionDenied", null),
        RedisBackupException => ("RedisBackup", "InvalidResult", null),
        RedisConnectException => ("RedisConnect", "ConnectionError", null),
        RedisReplyException => ("RedisError", "InvalidResult", null),
        RdbFormatException => ("RdbFormat", "InvalidData", null),
        RedisRestoreException s => ("RestoreStepFailed", "InvalidResult", s.Step),
        NotSupportedException => ("EngineNotSupported", "NotImplemented", null),
        MySqlConnector.MySqlException => ("DatabaseError", "ConnectionError", null),
        BackupVerificationException => ("BackupVerificationFailed", "InvalidResult", null),
        UnauthorizedAccessException => ("AccessDenied", "PermissionDenied", null),
        IOException => ("RepositoryIOError", "WriteError", null),
        _ => ("UnexpectedError", "NotSpecified", null),
    };
}
