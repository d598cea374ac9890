namespace BackupTools.Engine.Models;

/// <summary>
/// Whether a packed blob is stored compressed: one zstd frame (level 3, zstd's default) when that saves at least an
/// eighth. Tried first on the blob's first 4 KB, so content that does not compress (random bytes, parquet, images)
/// pays for 4 KB of trying, not for the whole blob.
/// </summary>
internal static class BlobCompression
{
    private const int Level = 3, Probe = 4096;

    [ThreadStatic] private static ZstdSharp.Compressor? t_compressor;
    // The probe's output, reused: a new array per file was most of what a backup of random files allocated.
    [ThreadStatic] private static byte[]? t_probe;

    public static (ReadOnlyMemory<byte> Body, bool Compressed) Compress(ReadOnlyMemory<byte> content)
    {
        if (content.Length < 64) return (content, false);
        var compressor = t_compressor ??= new ZstdSharp.Compressor(Level);
        var probe = t_probe ??= new byte[ZstdSharp.Compressor.GetCompressBound(Probe)];
        if (content.Length > Probe * 2 && compressor.Wrap(content.Span[..Probe], probe) > Probe * 7 / 8) return (content, false);
        // Into a pooled buffer, kept only when it pays, as an array of its own length (a new bound-sized array per blob
        // of a few hundred KB was a large-object-heap allocation each).
        var output = System.Buffers.ArrayPool<byte>.Shared.Rent(ZstdSharp.Compressor.GetCompressBound(content.Length));
        try
        {
            var length = compressor.Wrap(content.Span, output);
            return length <= content.Length * 7L / 8 ? (output.AsSpan(0, length).ToArray(), true) : (content, false);
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(output); }
    }
}
