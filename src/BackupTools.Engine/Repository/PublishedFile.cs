using System.Text;

namespace BackupTools.Engine.Repository;

/// <summary>
/// A file other programs read (a node_exporter textfile, an HTML report): UTF-8 without BOM, LF line endings, mode
/// 0644, written to a temporary name in the same directory and renamed over the old one, so a reader never sees half a
/// file; on Linux through one handle to the directory, never through a symlink.
/// </summary>
public static class PublishedFile
{
    public static void Write(string path, string content, string what)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        var bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(content.Replace("\r\n", "\n"));
        var temp = $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp";
        if (!SafeDirectory.Supported)
        {
            File.WriteAllBytes(Path.Combine(directory, temp), bytes);
            File.Move(Path.Combine(directory, temp), full, overwrite: true);
            return;
        }
        // The directory may belong to another account (node_exporter's, a web server's): one handle to it (opened by a walk that refuses
        // a directory above it another account could swap), a random name created O_EXCL | O_NOFOLLOW, and renameat
        // over the final name, which replaces the name itself, never a link's target.
        using var handle = SafeDirectory.OpenPath(directory, $"to write {what} '{full}'");
        try
        {
            using (var stream = handle.CreateFile(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead))
            {
                stream.Write(bytes);
                if (OperatingSystem.IsLinux()) File.SetUnixFileMode(stream.SafeFileHandle, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }
            SafeDirectory.Pause("textfile:rename");
            handle.Rename(temp, Path.GetFileName(full));
        }
        catch
        {
            handle.TryDelete(temp);
            throw;
        }
    }
}
