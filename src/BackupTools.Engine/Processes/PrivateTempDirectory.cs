using System.Security.Cryptography;

namespace BackupTools.Engine.Processes;

/// <summary>
/// A 0700 directory for secrets handed to child programs as 0600 files (never on a command line or in a child's
/// environment). Disposing removes it, on failure too; the file content is overwritten first so a later reader
/// of freed blocks finds nothing.
/// </summary>
public sealed class PrivateTempDirectory : IDisposable
{
    private PrivateTempDirectory(string path) => Path = path;

    public string Path { get; }

    public static PrivateTempDirectory Create()
    {
        var name = "backuptools-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant();
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), name);
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(path);
        else Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return new PrivateTempDirectory(path);
    }

    /// <summary>Writes <paramref name="content"/> to a new 0600 file and returns its path.</summary>
    public string WriteSecretFile(string fileName, string content)
    {
        var path = System.IO.Path.Combine(Path, fileName);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(content);
        return path;
    }

    public void Dispose()
    {
        try
        {
            foreach (var file in Directory.EnumerateFiles(Path))
            {
                try
                {
                    var length = new FileInfo(file).Length;
                    File.WriteAllBytes(file, new byte[length]);
                }
                catch (IOException) { /* a socket or fifo (a temporary server's): nothing to overwrite */ }
                File.Delete(file);
            }
            Directory.Delete(Path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
