namespace BackupTools.Engine.Redis;

/// <summary>
/// LZF decompression (the format Redis compresses long RDB strings with, redis src/lzf_d.c). The walker needs it only
/// for the listpacks whose entries it counts (hashes with field TTLs); every other compressed string is skipped whole.
/// </summary>
internal static class Lzf
{
    /// <summary>Decompresses <paramref name="input"/> into all of <paramref name="output"/>, or throws: the sizes must match exactly.</summary>
    public static void Decompress(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int ip = 0, op = 0;
        while (ip < input.Length)
        {
            int ctrl = input[ip++];
            if (ctrl < 32)
            {
                var run = ctrl + 1; // a literal run
                if (ip + run > input.Length || op + run > output.Length) throw Invalid();
                input.Slice(ip, run).CopyTo(output[op..]);
                ip += run;
                op += run;
                continue;
            }
            var length = ctrl >> 5; // a back reference
            var back = ((ctrl & 0x1f) << 8) + 1;
            if (ip >= input.Length) throw Invalid();
            if (length == 7)
            {
                length += input[ip++];
                if (ip >= input.Length) throw Invalid();
            }
            back += input[ip++];
            length += 2;
            var from = op - back;
            if (from < 0 || op + length > output.Length) throw Invalid();
            for (var i = 0; i < length; i++) output[op + i] = output[from + i]; // may overlap its own output: byte by byte
            op += length;
        }
        if (op != output.Length) throw Invalid();
    }

    private static RdbFormatException Invalid() => new("The dump holds an LZF-compressed string that does not decompress to its stated length: it is damaged.");
}
