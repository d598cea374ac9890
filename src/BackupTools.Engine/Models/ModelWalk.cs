using System.IO.Enumeration;

namespace BackupTools.Engine.Models;

/// <summary>
/// A model directory's entries one at a time, in the ordinal order of their relative paths: the order of a version's
/// file list, so the backup can walk the tree beside the previous version's list (a merge, not a lookup table of a
/// million paths) and write its own list as it goes. Only one directory's names are held at a time per level.
/// Symlinked directories are entries, never descended (root would copy whatever they point at); what each entry is,
/// the backup's lstat says.
/// </summary>
internal static class ModelWalk
{
    public static IEnumerable<(string Relative, string Full)> Sorted(string root) => Walk(root, "");

    private static IEnumerable<(string Relative, string Full)> Walk(string directory, string relative)
    {
        var children = new FileSystemEnumerable<(string Name, bool Descend)>(directory,
            (ref FileSystemEntry e) => (e.FileName.ToString(), e.IsDirectory && (e.Attributes & FileAttributes.ReparsePoint) == 0),
            new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false }).ToList();
        // A directory sorts as its name and '/', the character that follows it in every path beneath it: "a.txt" comes
        // before "a/b" ('.' < '/') and after a file named "a". Children in that order, each directory's paths in place,
        // are the whole tree in ordinal path order.
        children.Sort((x, y) => CompareAsPaths(x.Name, x.Descend, y.Name, y.Descend));
        foreach (var (name, descend) in children)
        {
            var path = relative.Length == 0 ? name : relative + "/" + name;
            var full = Path.Combine(directory, name);
            if (!descend) yield return (path, full);
            else foreach (var entry in Walk(full, path)) yield return entry;
        }
    }

    private static int CompareAsPaths(string x, bool xDirectory, string y, bool yDirectory)
    {
        var common = Math.Min(x.Length, y.Length);
        var c = string.CompareOrdinal(x, 0, y, 0, common);
        if (c != 0) return c;
        // One is a prefix of the other: what follows it is '/' for a directory, the end for a file.
        int Next(string s, bool isDirectory) => s.Length > common ? s[common] : isDirectory ? '/' : -1;
        return Next(x, xDirectory).CompareTo(Next(y, yDirectory));
    }

    /// <summary>Two ordinal-sorted sequences as one (the model's walk and the policy's config files under _config/).</summary>
    public static IEnumerable<T> Merge<T>(IEnumerable<T> first, IEnumerable<T> second, Func<T, string> key)
    {
        using var a = first.GetEnumerator();
        using var b = second.GetEnumerator();
        bool hasA = a.MoveNext(), hasB = b.MoveNext();
        while (hasA || hasB)
        {
            if (hasA && (!hasB || string.CompareOrdinal(key(a.Current), key(b.Current)) <= 0))
            {
                yield return a.Current;
                hasA = a.MoveNext();
            }
            else
            {
                yield return b.Current;
                hasB = b.MoveNext();
            }
        }
    }
}
