using System.Globalization;

namespace BackupTools.Engine.Core;

/// <summary>
/// The two ways a UTC time is written, in one place: Iso for people and records ("2026-11-30T01:02:03Z"), Compact for
/// names on disk ("20261130T010203Z": set ids, kept copies), which sort as text and hold no ':' (Windows).
/// </summary>
public static class Stamps
{
    public const string CompactFormat = "yyyyMMdd'T'HHmmss'Z'";
    public const string IsoFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'";

    public static string Iso(DateTime utc) => utc.ToString(IsoFormat, CultureInfo.InvariantCulture);
    public static string Compact(DateTime utc) => utc.ToString(CompactFormat, CultureInfo.InvariantCulture);
}

/// <summary>Best-effort removal of what a run made for itself (scratch, a half-built copy): a failure to clean up never hides the run's own outcome.</summary>
public static class Cleanup
{
    public static void TryDeleteDirectory(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
