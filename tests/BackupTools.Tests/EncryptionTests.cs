using System.Text;
using BackupTools.Engine.Encryption;

namespace BackupTools.Tests;

/// <summary>The BTENC1 format: AES-256-GCM chunks under a per-file data key wrapped by the key file's key.</summary>
public sealed class EncryptionTests
{
    private const int Chunk = 4096;
    private static readonly EncryptionKey Key = EncryptionKey.Generate();

    private static byte[] Encrypt(byte[] plain, EncryptionKey? key = null, int chunk = Chunk)
    {
        using var output = new MemoryStream();
        using (var e = new EncryptingStream(output, key ?? Key, chunk, leaveOpen: true))
        {
            // Uneven writes: chunk boundaries must not depend on how the caller writes.
            for (var at = 0; at < plain.Length; at += 1000) e.Write(plain, at, Math.Min(1000, plain.Length - at));
        }
        return output.ToArray();
    }

    private static byte[] Decrypt(byte[] sealedBytes, EncryptionKey? key = null)
    {
        using var d = new DecryptingStream(new MemoryStream(sealedBytes), key ?? Key);
        using var output = new MemoryStream();
        d.CopyTo(output, 777);
        return output.ToArray();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(Chunk - 1)]
    [InlineData(Chunk)]
    [InlineData(Chunk + 1)]
    [InlineData(3 * Chunk)]
    [InlineData(1_000_003)]
    public void EveryLengthRoundTripsAndHidesItsPlaintext(int length)
    {
        var plain = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("row 42 secret-value;", length / 20 + 1)))[..length];
        var sealedBytes = Encrypt(plain);
        Assert.Equal(plain, Decrypt(sealedBytes));
        // Header, one tag per chunk (an empty file still has its one, last chunk), and not one plaintext row.
        var chunks = Math.Max(1, (length + Chunk - 1) / Chunk);
        Assert.Equal(EncryptedFormat.HeaderLength + length + chunks * EncryptedFormat.TagLength, sealedBytes.Length);
        if (length >= 20) Assert.DoesNotContain("secret-value", Encoding.ASCII.GetString(sealedBytes));
    }

    [Fact]
    public void AFlippedByteAnywhereAfterTheKeyIdFailsAuthentication()
    {
        var sealedBytes = Encrypt(new byte[3 * Chunk + 10]);
        var keyIdEnd = EncryptedFormat.Magic.Length + EncryptedFormat.KeyIdLength;
        foreach (var at in new[] { keyIdEnd + 2, keyIdEnd + 6, EncryptedFormat.HeaderLength - 20, EncryptedFormat.HeaderLength - 1,
                     EncryptedFormat.HeaderLength, EncryptedFormat.HeaderLength + Chunk + 3, sealedBytes.Length - 1 })
        {
            var damaged = (byte[])sealedBytes.Clone();
            damaged[at] ^= 0x01;
            Assert.ThrowsAny<IOException>(() => Decrypt(damaged));
        }
    }

    [Fact]
    public void SwappedDroppedCutOrExtendedChunksFail()
    {
        var sealedBytes = Encrypt(Enumerable.Range(0, 3 * Chunk).Select(i => (byte)i).ToArray());
        var h = EncryptedFormat.HeaderLength;
        var c = Chunk + EncryptedFormat.TagLength;
        byte[] Part(int from, int length) => sealedBytes.AsSpan(from, length).ToArray();
        var swapped = Part(0, h).Concat(Part(h + c, c)).Concat(Part(h, c)).Concat(Part(h + 2 * c, sealedBytes.Length - h - 2 * c)).ToArray();
        Assert.Throws<EncryptedDataException>(() => Decrypt(swapped));
        // Cut at a chunk boundary (the last chunk dropped whole): the chunk before is not marked last.
        Assert.Throws<EncryptedDataException>(() => Decrypt(Part(0, h + 2 * c)));
        Assert.Throws<EncryptedDataException>(() => Decrypt(Part(0, sealedBytes.Length - 5)));
        Assert.Throws<EncryptedDataException>(() => Decrypt([.. sealedBytes, 0x00]));
        Assert.Throws<EncryptedDataException>(() => Decrypt(Part(0, h - 1)));
    }

    [Fact]
    public void AWrongKeyIsNamedAndAHeaderFromAnotherFileFails()
    {
        var sealedBytes = Encrypt(Encoding.ASCII.GetBytes("hello"));
        var other = EncryptionKey.Generate();
        var e = Assert.Throws<EncryptionKeyException>(() => Decrypt(sealedBytes, other));
        Assert.Contains(Key.Id, e.Message);
        Assert.Contains(other.Id, e.Message);
        Assert.Equal(Key.Id, DecryptingStream.KeyIdOf(new MemoryStream(sealedBytes)));
        // Same key, another file's header (so another data key) on these chunks.
        var foreign = Encrypt(Encoding.ASCII.GetBytes("world"));
        var spliced = foreign.AsSpan(0, EncryptedFormat.HeaderLength).ToArray().Concat(sealedBytes.Skip(EncryptedFormat.HeaderLength)).ToArray();
        Assert.Throws<EncryptedDataException>(() => Decrypt(spliced));
    }

    [Fact]
    public void RotationRewrapsTheHeaderAndKeepsEveryChunk()
    {
        var plain = new byte[2 * Chunk + 7];
        Random.Shared.NextBytes(plain);
        var sealedBytes = Encrypt(plain);
        var next = EncryptionKey.Generate();
        var header = EncryptedFormat.Rewrap(sealedBytes.AsSpan(0, EncryptedFormat.HeaderLength), Key, next);
        var rotated = header.Concat(sealedBytes.Skip(EncryptedFormat.HeaderLength)).ToArray();
        Assert.Equal(plain, Decrypt(rotated, next));
        Assert.Throws<EncryptionKeyException>(() => Decrypt(rotated, Key));
        Assert.Throws<EncryptionKeyException>(() => EncryptedFormat.Rewrap(sealedBytes.AsSpan(0, EncryptedFormat.HeaderLength), next, Key));
    }

    [Fact]
    public void AKeyFileIsPrivateNeverOverwrittenAndItsErrorsNameTheFileNotTheKey()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("backup.key");
        var key = EncryptionKey.Generate();
        key.WriteNew(path);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(key.Id, EncryptionKey.Read(path).Id);
        Assert.Throws<IOException>(() => EncryptionKey.Generate().WriteNew(path));
        Assert.Equal(key.Id, EncryptionKey.Read(path).Id);
        Assert.Contains("does not exist", Assert.Throws<EncryptionKeyException>(() => EncryptionKey.Read(dir.Combine("none"))).Message);
        File.WriteAllText(dir.Combine("short"), Convert.ToBase64String(new byte[16]));
        var e = Assert.Throws<EncryptionKeyException>(() => EncryptionKey.Read(dir.Combine("short")));
        Assert.Contains("16 bytes", e.Message);
        Assert.Contains(dir.Combine("short"), e.Message);
    }
}
