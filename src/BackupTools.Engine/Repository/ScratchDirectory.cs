namespace BackupTools.Engine.Repository;

/// <summary>A private working directory that hands out sub-directories.</summary>
public interface IScratchDirectory
{
    string Path { get; }
    /// <summary>Creates (0700) and returns a sub-directory.</summary>
    string Combine(string name);
}

/// <summary>
/// A private working directory under <c>&lt;repository&gt;/_scratch/</c> for extracting and preparing backups: on the
/// repository's file system (room for a whole database, unlike a small /tmp), removed on dispose, on failure too.
/// </summary>
public sealed class ScratchDirectory : IScratchDirectory, IDisposable
{
    public const string DirectoryName = "_scratch";

    private ScratchDirectory(string path) => Path = path;

    public string Path { get; }

    public static ScratchDirectory Create(string repositoryRoot, string name)
    {
        var parent = System.IO.Path.Combine(repositoryRoot, DirectoryName);
        FileModes.CreatePrivateDirectory(parent);
        var path = System.IO.Path.Combine(parent, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        FileModes.CreatePrivateDirectory(path);
        return new ScratchDirectory(path);
    }

    public string Combine(string name)
    {
        var path = System.IO.Path.Combine(Path, name);
        FileModes.CreatePrivateDirectory(path);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }
}
