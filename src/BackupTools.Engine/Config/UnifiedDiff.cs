using System.Text;

namespace BackupTools.Engine.Config;

/// <summary>
/// A unified diff of two texts (3 lines of context), for -WhatIf: shows what a restore would change without writing
/// anything, not even a Git object. Longest common subsequence over lines; config files are small, and beyond
/// 4 million line pairs it says so instead of diffing.
/// </summary>
public static class UnifiedDiff
{
    public static string Create(string oldText, string newText, string oldName, string newName, int context = 3)
    {
        var a = Lines(oldText);
        var b = Lines(newText);
        if ((long)a.Length * b.Length > 4_000_000) return $"--- {oldName}\n+++ {newName}\n(files too large to diff here: {a.Length} and {b.Length} lines)\n";
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
            for (var j = b.Length - 1; j >= 0; j--)
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
        var ops = new List<(char Op, string Line, int OldLine, int NewLine)>();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y]) { ops.Add((' ', a[x], x, y)); x++; y++; }
            else if (x < a.Length && (y == b.Length || lcs[x + 1, y] >= lcs[x, y + 1])) { ops.Add(('-', a[x], x, y)); x++; } // removals first, as diff -u
            else { ops.Add(('+', b[y], x, y)); y++; }
        }
        if (ops.All(o => o.Op == ' ')) return "";
        var sb = new StringBuilder().Append("--- ").Append(oldName).Append('\n').Append("+++ ").Append(newName).Append('\n');
        var k = 0;
        while (k < ops.Count)
        {
            if (ops[k].Op == ' ') { k++; continue; }
            var start = Math.Max(0, k - context);
            var end = k;
            // Extend the hunk while changes are within 2*context lines of each other.
            while (end < ops.Count)
            {
                if (ops[end].Op != ' ') { end++; continue; }
                var next = end;
                while (next < ops.Count && ops[next].Op == ' ') next++;
                if (next < ops.Count && next - end <= 2 * context) { end = next; continue; }
                end = Math.Min(ops.Count, end + context);
                break;
            }
            var hunk = ops.GetRange(start, end - start);
            var oldCount = hunk.Count(o => o.Op != '+');
            var newCount = hunk.Count(o => o.Op != '-');
            sb.Append($"@@ -{hunk[0].OldLine + (oldCount == 0 ? 0 : 1)},{oldCount} +{hunk[0].NewLine + (newCount == 0 ? 0 : 1)},{newCount} @@\n");
            foreach (var o in hunk) sb.Append(o.Op).Append(o.Line).Append('\n');
            k = end;
        }
        return sb.ToString();
    }

    private static string[] Lines(string text)
    {
        if (text.Length == 0) return [];
        var lines = text.Replace("\r\n", "\n").Split('\n');
        return text.EndsWith('\n') ? lines[..^1] : lines;
    }
}
