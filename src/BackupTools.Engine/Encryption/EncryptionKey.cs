using System.Security.Cryptography;
using System.Text;
using BackupTools.Engine.Repository;

namespace BackupTools.Engine.Encryption;

/// <summary>
/// A key-encryption key: 32 random bytes, kept in a 0600 file as one base64 line. It never encrypts data itself: it
/// wraps each set's own data key, so rotating it re-wraps small headers and re-sends no data. Its id (the first 16 hex
/// digits of the SHA-256 of the key) goes into every encrypted file, so a restore can say which key it needs.
/// </summary>
public sealed class EncryptionKey
{
    public const int Size = 32;
    private readonly byte[] _key;

    private EncryptionKey(byte[] key)
    {
        _key = key;
        Id = Convert.ToHexString(SHA256.HashData(key))[..16].ToLowerInvariant();
    }

    public string Id { get; }

    internal ReadOnlySpan<byte> Bytes => _key;

    public static EncryptionKey Generate() => new(RandomNumberGenerator.GetBytes(Size));

    /// <summary>Reads a key file; the error names the file and what is wrong with it, never the key.</summary>
    public static EncryptionKey Read(string path)
    {
        if (!File.Exists(path))
            throw new EncryptionKeyException($"The encryption key file '{path}' does not exist. Create one with New-BackupEncryptionKey -Path '{path}', or restore the one the backups were made with.");
        return FromText(File.ReadAllText(path), $"the file '{path}'");
    }

    /// <summary>A key given as text (an environment variable's value): base64 of 32 bytes.</summary>
    public static EncryptionKey FromText(string text, string where)
    {
        byte[] key;
        try { key = Convert.FromBase64String(text.Trim()); }
        catch (FormatException) { throw new EncryptionKeyException($"The encryption key in {where} is not base64 text. New-BackupEncryptionKey writes one."); }
        if (key.Length != Size) throw new EncryptionKeyException($"The encryption key in {where} is {key.Length} bytes; a key is {Size}. New-BackupEncryptionKey writes one.");
        return new EncryptionKey(key);
    }

    /// <summary>Writes a new key file, mode 0600, never over an existing file (a lost key is lost backups).</summary>
    public void WriteNew(string path)
    {
        using var file = FileModes.CreatePrivateFile(path, FileMode.CreateNew, bufferSize: 0);
        file.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(_key) + "\n"));
        file.Flush(flushToDisk: true);
    }
}

/// <summary>A key is missing, unreadable, or not the one a file was encrypted with; the message names which.</summary>
public sealed class EncryptionKeyException(string message) : Exception(message);

/// <summary>An encrypted file fails its authentication: damaged, truncated, reordered or tampered with.</summary>
public sealed class EncryptedDataException(string message) : IOException(message);
