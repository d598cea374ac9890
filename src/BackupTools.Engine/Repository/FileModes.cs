namespace BackupTools.Engine.Repository;

/// <summary>Backup data is private to the account that runs the backups: files 0600, directories 0700.</summary>
internal static class FileModes
{
    public const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static DirectoryInfo CreatePrivateDirectory(string path) => OperatingSystem.IsWindows()
        ? Directory.CreateDirectory(path)
        : Directory.CreateDirectory(path, PrivateDirectory);

    public static FileStream CreatePrivateFile(string path, FileMode mode = FileMode.CreateNew, int bufferSize = 1 << 20)
    {
        var options = new FileStreamOptions
        {
            Mode = mode, Access = FileAccess.Write, Share = FileShare.None, BufferSize = bufferSize,
            Options = FileOptions.Asynchronous,
        };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = PrivateFile;
        return new FileStream(path, options);
    }

    /// <summary>Writes a small file durably (flushed to disk) so a crash right after cannot leave it empty.</summary>
    public static void WriteDurably(string path, ReadOnlySpan<byte> content, FileMode mode = FileMode.CreateNew)
    {
        using var stream = CreatePrivateFile(path, mode, bufferSize: 0);
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }
}
