namespace BackupTools.Model;

/// <summary>One backup set Remove-ExpiredBackup removed (or, with -WhatIf, would remove), and why.</summary>
public sealed record RetentionDecision
{
    public required string Target { get; init; }
    public required string Engine { get; init; }
    public required string Type { get; init; }
    public required string Id { get; init; }
    public required DateTime StartTime { get; init; }
    public required string Reason { get; init; }
    public long BytesFreed { get; init; }
    public string? Path { get; init; }
    /// <summary>False with -WhatIf, or when the removal was declined or failed.</summary>
    public bool Removed { get; init; }
}
