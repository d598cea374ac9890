namespace BackupTools.Engine.Repository;

/// <summary>
/// Whether the repository's caches (the catalog index, the journal's copies) may be written by this flow of work. A
/// what-if sets it: it reads them when they are current and lists the manifests otherwise, but writes nothing.
/// </summary>
public static class RepositoryCaches
{
    private static readonly AsyncLocal<bool> Flag = new();

    public static bool ReadOnly
    {
        get => Flag.Value;
        set => Flag.Value = value;
    }
}
