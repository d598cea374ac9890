namespace BackupTools.Engine.Encryption;

/// <summary>
/// The keys that can read locally encrypted sets (encryption.local): the policy loaded last says where its keys come
/// from (its key and previousKeyFiles), and a reader asks for the key a file's header names. Sources, not keys, are kept, so a key file is read only
/// when an encrypted file is read, and a policy without encryption costs nothing.
/// </summary>
public static class LocalKeys
{
    private static readonly object Gate = new();
    private static readonly Dictionary<string, Func<EncryptionKey>> Sources = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, EncryptionKey> Known = new(StringComparer.Ordinal);

    /// <summary>
    /// The keys of the policy being used now, and only those: a key another policy named earlier in the same session
    /// must not read this policy's sets (a policy without previousKeyFiles has no previous key).
    /// </summary>
    public static void Use(IEnumerable<(string Where, Func<EncryptionKey> Source)> sources)
    {
        lock (Gate)
        {
            Sources.Clear();
            Known.Clear();
            foreach (var (where, source) in sources) Sources.TryAdd(where, source);
        }
    }

    /// <summary>The key with this id, from the registered sources; refused by name when none has it.</summary>
    public static EncryptionKey Find(string keyId)
    {
        lock (Gate)
        {
            if (Known.TryGetValue(keyId, out var known)) return known;
            var problems = new List<string>();
            foreach (var source in Sources.Values)
            {
                try
                {
                    var key = source();
                    Known[key.Id] = key;
                    if (key.Id == keyId) return key;
                }
                catch (Exception e) when (e is EncryptionKeyException or IOException or UnauthorizedAccessException or Targets.SecretUnavailableException)
                {
                    problems.Add(e.Message);
                }
            }
            throw new EncryptionKeyException($"This backup set is encrypted with key {keyId}, and no key the policy names is that one" +
                (Known.Count > 0 ? $" (it has {string.Join(", ", Known.Keys)})" : "") + (problems.Count > 0 ? $": {string.Join(" ", problems)}" : ".") +
                " Give the key file it was made with: in encryption.previousKeyFiles after a rotation (new sets keep the new keyFile), else as encryption.keyFile.");
        }
    }
}
