using BackupTools.Engine.Models;

namespace BackupTools.Tests;

/// <summary>Which model version ran at a point: the deployment history, its fallback, and a version retention removed.</summary>
public sealed class ModelDeploymentTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private string Model => _dir.Combine("model");
    private string Repo => _dir.Combine("repo");

    public ModelDeploymentTests() => Directory.CreateDirectory(Model);

    public void Dispose() => _dir.Dispose();

    private async Task<ModelManifest> Version(string version)
    {
        File.WriteAllText(Path.Combine(Model, "weights.bin"), "weights of " + version);
        return (await ModelBackup.RunAsync(Repo, "llm", Model, version, [], false, null, CancellationToken.None)).Manifest;
    }

    private static readonly DateTime T0 = new(2026, 11, 1, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public async Task TheLastRecordAtOrBeforeThePointWinsOverTheNewestVersion()
    {
        await Version("1");
        await Version("2");
        ModelDeployments.Record(Repo, "llm", "1", T0, "backup");
        ModelDeployments.Record(Repo, "llm", "2", T0.AddHours(1), "backup");
        ModelDeployments.Record(Repo, "llm", "2", T0.AddHours(1.5), "backup"); // the same version seen again: no new record
        ModelDeployments.Record(Repo, "llm", "1", T0.AddHours(2), "restore");  // rolled back to 1
        Assert.Equal(3, ModelDeployments.Read(Repo, "llm").Count);
        Assert.Equal("1", ModelDeployments.DeployedAt(Repo, "llm", T0.AddMinutes(30)).Manifest!.Version);
        Assert.Equal("2", ModelDeployments.DeployedAt(Repo, "llm", T0.AddHours(1)).Manifest!.Version);
        var rolledBack = ModelDeployments.DeployedAt(Repo, "llm", T0.AddHours(3));
        Assert.Equal(("1", T0.AddHours(2)), (rolledBack.Manifest!.Version, rolledBack.Since!.Value));
        Assert.Contains("restored", rolledBack.How, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutARecordTheNewestVersionByThenIsUsedAndSaysSo()
    {
        var v1 = await Version("1");
        var before = ModelDeployments.DeployedAt(Repo, "llm", v1.Created.AddSeconds(-1));
        Assert.Null(before.Manifest);
        Assert.Contains("no version of model llm", before.Problem, StringComparison.Ordinal);
        var after = ModelDeployments.DeployedAt(Repo, "llm", v1.Created.AddSeconds(1));
        Assert.Equal(("1", ModelDeployments.Fallback), (after.Manifest!.Version, after.How));
    }

    [Fact]
    public async Task AVersionRetentionRemovedIsAProblemNeverAnotherVersion()
    {
        await Version("1");
        await Version("2");
        ModelDeployments.Record(Repo, "llm", "1", T0, "backup");
        ModelDeployments.Record(Repo, "llm", "3", T0.AddHours(1), "backup"); // a version no longer held
        var gone = ModelDeployments.DeployedAt(Repo, "llm", T0.AddHours(2));
        Assert.Null(gone.Manifest);
        Assert.Contains("version 3", gone.Problem, StringComparison.Ordinal);
        Assert.Contains("no longer held", gone.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATornLastLineIsLeftForLaterAndTheRestReads()
    {
        await Version("1");
        ModelDeployments.Record(Repo, "llm", "1", T0, "backup");
        File.AppendAllText(Path.Combine(Repo, "models", "llm", "deployments.jsonl"), "{\"time\":\"2026-");
        Assert.Single(ModelDeployments.Read(Repo, "llm"));
        ModelDeployments.Record(Repo, "llm", "1", T0.AddHours(1), "restore"); // starts on a line of its own
        Assert.Equal(2, ModelDeployments.Read(Repo, "llm").Count);
    }

    [Fact]
    public async Task VersionSummariesSayWhatTheWholeManifestsSay()
    {
        await Version("1");
        await Version("2");
        File.WriteAllText(Path.Combine(Repo, "models", "llm", "versions", "broken.json"), "{ not json"); // skipped by both
        var whole = ModelBackup.Versions(Repo, "llm").Select(v => (v.Version, v.Created, v.RawBytes));
        var summaries = ModelBackup.Summaries(Repo, "llm").Select(v => (v.Version, v.Created, v.RawBytes));
        Assert.Equal(whole, summaries);
        Assert.Equal(2, summaries.Count());
    }
}
