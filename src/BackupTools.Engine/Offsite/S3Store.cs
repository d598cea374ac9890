using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace BackupTools.Engine.Offsite;

/// <summary>
/// An S3-compatible bucket (AWS, MinIO, Ceph, Wasabi; optionally under a prefix) as a remote repository. Large objects
/// are multipart uploads whose upload id is the resume token: parts that arrived stay until the upload is completed or
/// aborted, so a copy cut short sends only the missing parts. Locks are Object Lock retention in compliance mode (the
/// bucket needs Object Lock enabled). Path-style addressing, so endpoints without wildcard DNS work too.
/// </summary>
public sealed class S3Store : IRemoteStore, IDisposable
{
    private readonly AmazonS3Client _client;
    private readonly string _bucket, _prefix, _where;
    private bool _created;

    /// <param name="credentials">Null: the SDK's default chain (environment, profile, instance or task role).</param>
    public S3Store(string? endpoint, string? region, AWSCredentials? credentials, string bucket, string prefix = "")
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = true,
            // Our own MD5 per part is what stores check; the SDK's newer trailing checksums are not spoken by every S3-compatible store.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            // A few quick retries: a store that does not answer is reported in seconds; the next hourly run resumes.
            MaxErrorRetry = 3,
        };
        if (endpoint is not null) config.ServiceURL = endpoint;
        if (region is not null)
        {
            if (endpoint is null) config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(region);
            else config.AuthenticationRegion = region;
        }
        _client = credentials is null ? new AmazonS3Client(config) : new AmazonS3Client(credentials, config);
        _bucket = bucket;
        _prefix = prefix;
        _where = $"S3 bucket {bucket} at {endpoint ?? "AWS"}{(prefix.Length > 0 ? " under " + prefix : "")}";
    }

    public string Describe => _where;

    private readonly SemaphoreSlim _creating = new(1, 1);

    private async Task EnsureBucketAsync(CancellationToken ct)
    {
        if (_created) return;
        await _creating.WaitAsync(ct); // parallel uploads: one of them looks, the others wait for its answer
        try
        {
            if (_created) return;
            try { await _client.GetBucketLocationAsync(new GetBucketLocationRequest { BucketName = _bucket }, ct); }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
            {
                try { await _client.PutBucketAsync(new PutBucketRequest { BucketName = _bucket }, ct); }
                catch (AmazonS3Exception x) when (x.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists") { } // another host made it meanwhile
            }
            _created = true;
        }
        finally { _creating.Release(); }
    }

    private static string Md5(ReadOnlySpan<byte> content) => Convert.ToBase64String(MD5.HashData(content));

    private static void Apply(MetadataCollection target, IReadOnlyDictionary<string, string> metadata)
    {
        foreach (var (k, v) in metadata) target[k] = v;
    }

    public async Task PutAsync(string name, ReadOnlyMemory<byte> content, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct)
    {
        await EnsureBucketAsync(ct);
        // The body stays open, and rewound, for the SDK's retries. Seen once under load: s3rver stored 0 bytes of a
        // small object with the right metadata (the size check after the upload refused the copy); a retry that sent
        // an already-read body is the likely cause, not proven.
        using var body = new MemoryStream(content.ToArray(), writable: false);
        var request = new PutObjectRequest
        {
            BucketName = _bucket, Key = _prefix + name, InputStream = body, MD5Digest = Md5(content.Span),
            AutoCloseStream = false, AutoResetStreamPosition = true, UseChunkEncoding = false,
        };
        Apply(request.Metadata, metadata);
        if (lockUntil is { } u) (request.ObjectLockMode, request.ObjectLockRetainUntilDate) = (ObjectLockMode.Compliance, u.UtcDateTime);
        await _client.PutObjectAsync(request, ct);
    }

    public async Task<(string Token, IReadOnlyDictionary<int, string> Done)> StartPartsAsync(string name, string? resumeToken, IReadOnlyDictionary<int, string> saved,
        IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct)
    {
        await EnsureBucketAsync(ct);
        if (resumeToken is not null)
        {
            try { return (resumeToken, (await PartsAsync(name, resumeToken, ct)).ToDictionary(p => p.Key - 1, p => p.Value)); }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchUpload") { } // aborted or expired: start afresh
            // A store without ListParts (some S3-compatible ones): the receipts recorded as parts arrived stand in;
            // a recorded part the store lost fails the completion, and the next run starts afresh.
            catch (AmazonS3Exception e) when (e.ErrorCode is "MethodNotAllowed" or "NotImplemented") { return (resumeToken, saved); }
        }
        var start = new InitiateMultipartUploadRequest { BucketName = _bucket, Key = _prefix + name };
        Apply(start.Metadata, metadata);
        if (lockUntil is { } u) (start.ObjectLockMode, start.ObjectLockRetainUntilDate) = (ObjectLockMode.Compliance, u.UtcDateTime);
        return ((await _client.InitiateMultipartUploadAsync(start, ct)).UploadId, new Dictionary<int, string>());
    }

    private async Task<Dictionary<int, string>> PartsAsync(string name, string token, CancellationToken ct)
    {
        var parts = new Dictionary<int, string>();
        string? marker = null;
        while (true)
        {
            var page = await _client.ListPartsAsync(new ListPartsRequest { BucketName = _bucket, Key = _prefix + name, UploadId = token, PartNumberMarker = marker }, ct);
            foreach (var p in page.Parts ?? []) parts[p.PartNumber ?? 0] = p.ETag;
            if (page.IsTruncated != true) return parts;
            marker = page.NextPartNumberMarker?.ToString();
        }
    }

    public async Task<string> PutPartAsync(string name, string token, int part, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        using var body = new MemoryStream(content.ToArray(), writable: false);
        return (await _client.UploadPartAsync(new UploadPartRequest
        {
            BucketName = _bucket, Key = _prefix + name, UploadId = token, PartNumber = part + 1,
            InputStream = body, MD5Digest = Md5(content.Span), UseChunkEncoding = false,
        }, ct)).ETag;
    }

    public async Task CompletePartsAsync(string name, string token, IReadOnlyList<string> receipts, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? lockUntil, CancellationToken ct) =>
        await _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
        {
            BucketName = _bucket, Key = _prefix + name, UploadId = token,
            PartETags = receipts.Select((etag, i) => new PartETag(i + 1, etag)).ToList(),
        }, ct);

    public async Task<Stream> OpenReadAsync(string name, CancellationToken ct) =>
        (await _client.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = _prefix + name }, ct)).ResponseStream;

    public async Task<RemoteObject?> StatAsync(string name, CancellationToken ct)
    {
        try
        {
            var m = await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _bucket, Key = _prefix + name }, ct);
            var metadata = m.Metadata.Keys.ToDictionary(k => k.StartsWith("x-amz-meta-", StringComparison.OrdinalIgnoreCase) ? k[11..] : k, k => m.Metadata[k]);
            DateTimeOffset? locked = m.ObjectLockRetainUntilDate is { } d && d > DateTime.MinValue ? new DateTimeOffset(DateTime.SpecifyKind(d, DateTimeKind.Utc)) : null;
            return new RemoteObject(m.ContentLength, metadata, locked);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound) { return null; }
    }

    public async IAsyncEnumerable<string> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        string? continuation = null;
        while (true)
        {
            ListObjectsV2Response page;
            try { page = await _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = _prefix + prefix, ContinuationToken = continuation }, ct); }
            catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket") { yield break; } // no bucket yet: nothing there
            foreach (var o in page.S3Objects ?? []) yield return o.Key[_prefix.Length..];
            if (page.IsTruncated != true) yield break;
            continuation = page.NextContinuationToken;
        }
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken ct)
    {
        // In a locked bucket a plain delete only adds a delete marker and the locked bytes stay: refuse it here instead.
        if (await StatAsync(name, ct) is { LockedUntil: { } until } && until > DateTimeOffset.UtcNow) return false;
        await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _bucket, Key = _prefix + name }, ct);
        return true;
    }

    public async Task<(bool Available, string Reason)> LockAvailableAsync(CancellationToken ct)
    {
        try
        {
            var c = await _client.GetObjectLockConfigurationAsync(new GetObjectLockConfigurationRequest { BucketName = _bucket }, ct);
            return c.ObjectLockConfiguration?.ObjectLockEnabled == ObjectLockEnabled.Enabled
                ? (true, "")
                : (false, $"{_where} does not have Object Lock enabled, so objects cannot be locked there");
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "ObjectLockConfigurationNotFoundError")
        {
            return (false, $"{_where} does not have Object Lock enabled, so objects cannot be locked there");
        }
        catch (AmazonS3Exception e)
        {
            // Not "no lock": the question itself failed (AccessDenied needs s3:GetBucketObjectLockConfiguration).
            return (false, $"{_where} could not say whether Object Lock is enabled ({e.ErrorCode}: {e.Message}); give the credentials s3:GetBucketObjectLockConfiguration, or check the bucket");
        }
    }

    public void Dispose()
    {
        _client.Dispose();
        _creating.Dispose();
    }
}
