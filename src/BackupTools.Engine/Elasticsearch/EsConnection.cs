using System.Text.Json.Nodes;
using BackupTools.Model;
using Elastic.Clients.Elasticsearch;
using Elastic.Transport;
using HttpMethod = Elastic.Transport.HttpMethod;

namespace BackupTools.Engine.Elasticsearch;

/// <summary>An Elasticsearch reply error: the HTTP status, the error type and reason from the body.</summary>
public class EsRequestException(string message, int status, string? type) : Exception(message)
{
    public int Status { get; } = status;
    public string? Type { get; } = type;
}

public sealed class EsAuthException(string message, int status) : EsRequestException(message, status, "security_exception");

/// <summary>
/// The snapshot REST calls, sent through the official client's transport (its connection handling, authentication and
/// product check) with the documented JSON bodies. The typed request classes change between client majors; the REST
/// shapes of the snapshot API have not, and they are what the loopback test server answers.
/// </summary>
public sealed class EsConnection
{
    private readonly ElasticsearchClient _client;
    private readonly string _target;

    private EsConnection(ElasticsearchClient client, string target)
    {
        _client = client;
        _target = target;
    }

    public string Url { get; private init; } = "";

    /// <summary>user + password: basic authentication; a password without a user: an API key (the encoded form).</summary>
    public static EsConnection Create(TargetPolicy target, string? secret, TimeSpan timeout)
    {
        var settings = new ElasticsearchClientSettings(new Uri(target.Url!)).RequestTimeout(timeout);
        if (target.User is not null) settings = settings.Authentication(new BasicAuthentication(target.User, secret ?? ""));
        else if (secret is not null) settings = settings.Authentication(new ApiKey(secret));
        return new EsConnection(new ElasticsearchClient(settings), target.Name) { Url = target.Url! };
    }

    public Task<(int Status, JsonNode? Body)> GetAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.GET, path, null, ct);
    public Task<(int Status, JsonNode? Body)> PutAsync(string path, JsonNode body, CancellationToken ct) => SendAsync(HttpMethod.PUT, path, body, ct);
    public Task<(int Status, JsonNode? Body)> PostAsync(string path, JsonNode? body, CancellationToken ct) => SendAsync(HttpMethod.POST, path, body, ct);
    public Task<(int Status, JsonNode? Body)> DeleteAsync(string path, CancellationToken ct) => SendAsync(HttpMethod.DELETE, path, null, ct);

    /// <summary>Sends a request; 401/403 become <see cref="EsAuthException"/>, no answer an <see cref="EsRequestException"/> with status 0.</summary>
    public async Task<(int Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken ct)
    {
        var response = body is null
            ? await _client.Transport.RequestAsync<StringResponse>(method, path, ct)
            : await _client.Transport.RequestAsync<StringResponse>(method, path, PostData.String(body.ToJsonString()), ct);
        var status = response.ApiCallDetails.HttpStatusCode ?? 0;
        if (status == 0)
            throw new EsRequestException($"Elasticsearch at {Url} did not answer {method} {path} for target '{_target}': {response.ApiCallDetails.OriginalException?.Message}. Check the url in the policy and that the cluster runs.", 0, null);
        JsonNode? json = null;
        if (!string.IsNullOrWhiteSpace(response.Body))
            try { json = JsonNode.Parse(response.Body); } catch (System.Text.Json.JsonException) { json = null; }
        if (status is 401 or 403)
            throw new EsAuthException($"Elasticsearch at {Url} refused {method} {path} for target '{_target}' (HTTP {status}): {Reason(json)}. " +
                (status == 401 ? "Check the API key or user and password the policy names (passwordEnv/passwordFile) or -Credential."
                               : "The login lacks a privilege: snapshots need the cluster privileges manage_snapshot (or create_snapshot) and monitor_snapshot."), status);
        return (status, json);
    }

    /// <summary>Throws for a status that is not 2xx, with the error's type and reason.</summary>
    public static JsonNode? Expect((int Status, JsonNode? Body) reply, string what)
    {
        if (reply.Status is >= 200 and < 300) return reply.Body;
        throw new EsRequestException($"{what} failed (HTTP {reply.Status}): {Reason(reply.Body)}", reply.Status, ErrorType(reply.Body));
    }

    public static string? ErrorType(JsonNode? body) => body?["error"]?["type"]?.GetValue<string>();

    public static string Reason(JsonNode? body) =>
        body?["error"] is JsonObject e ? $"{e["type"]?.GetValue<string>()}: {e["reason"]?.GetValue<string>()}" : body?.ToJsonString() ?? "(no body)";
}
