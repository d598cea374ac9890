using System.Globalization;
using System.Text.RegularExpressions;

namespace BackupTools.Engine.Policy;

/// <summary>Durations in the policy: a whole number and one unit (s, m, h, d, w), e.g. 30d, 6h, 15m.</summary>
public static partial class Duration
{
    public const string ExpectedForm = "use forms like 30d, 6h, 15m";

    [GeneratedRegex(@"^(\d{1,6})([smhdw])$")]
    private static partial Regex Pattern();

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        var m = Pattern().Match(text ?? "");
        if (!m.Success) return false;
        var n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        if (n == 0) return false;
        value = m.Groups[2].Value switch
        {
            "s" => TimeSpan.FromSeconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            "d" => TimeSpan.FromDays(n),
            _ => TimeSpan.FromDays(7 * n),
        };
        return true;
    }
}
