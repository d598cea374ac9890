using BackupTools.Engine.Policy;
using BackupTools.Model;

namespace BackupTools.Tests;

public sealed class PolicyParserTests
{
    private const string File = "/etc/backuptools/policy.yml";

    /// <summary>The policy from the foundation issue, verbatim: the fixed keys scripts and docs rely on.</summary>
    private const string IssueExample = """
        repository: /backup                  # root of the backup repository (local path)
        targets:
          main-db:
            engine: mariadb                  # mariadb | redis | elasticsearch
            host: 127.0.0.1
            port: 3306
            socket: /run/mysqld/mysqld.sock  # optional; preferred over host/port when set
            user: backup
            passwordEnv: BACKUP_DB_PASSWORD  # or passwordFile: /etc/backuptools/main-db.secret
            dataDir: /var/lib/mysql          # the server's data directory (restore, binlog location)
            schedule: { full: "0 2 * * *", incremental: "0 */6 * * *", binlog: "*/15 * * * *" }
            retention: { full: 30d, incremental: 7d, binlog: 14d }
          cache:
            engine: redis
            host: 127.0.0.1
            port: 6379
            schedule: { snapshot: "0 * * * *" }
            retention: { snapshot: 7d }
          search:
            engine: elasticsearch
            url: http://127.0.0.1:9200
            snapshotRepository: backups
            indices: ["*"]
            schedule: { snapshot: "0 3 * * *" }
            retention: { snapshot: 30d }
        models:
          llm-main: { path: /models/llm-main, keep: 5 }
        config:
          paths: [/etc/backuptools, /etc/docker/daemon.json]
        storage: { warningFreePercent: 20, criticalFreePercent: 10 }
        alerts:
          delayGrace: 1h
          routes: { critical: [phone, sms, slack], warning: [slack, email] }
          channels:
            slack: { webhookUrlEnv: SLACK_URL }
            email: { host: smtp.example.com, from: backup@example.com, to: [ops@example.com] }
            sms: { accountSid: AC123, authTokenEnv: TWILIO_TOKEN, from: "+15550001", to: ["+15550002"] }
            phone: { accountSid: AC123, authTokenEnv: TWILIO_TOKEN, from: "+15550001", to: ["+15550003"] }
        """;

    [Fact]
    public void IssueExamplePolicyParsesIntoEveryField()
    {
        var (policy, problems) = PolicyParser.Parse(IssueExample, File);
        Assert.Empty(problems);
        Assert.NotNull(policy);
        Assert.Equal("/backup", policy.Repository);
        Assert.Equal(["main-db", "cache", "search"], policy.Targets.Select(t => t.Name));
        var db = policy.FindTarget("MAIN-DB")!;
        Assert.Equal(TargetEngine.MariaDb, db.Engine);
        Assert.Equal(3306, db.Port);
        Assert.Equal("/run/mysqld/mysqld.sock", db.Socket);
        Assert.Equal("unix:/run/mysqld/mysqld.sock", db.Endpoint);
        Assert.Equal("env:BACKUP_DB_PASSWORD", db.PasswordSource);
        Assert.Equal("*/15 * * * *", db.Schedule["binlog"]);
        Assert.Equal(TimeSpan.FromDays(30), db.Retention["full"]);
        Assert.Equal(TimeSpan.FromDays(14), db.Retention["binlog"]);
        var search = policy.FindTarget("search")!;
        Assert.Equal(["*"], search.Indices);
        Assert.Equal("backups", search.SnapshotRepository);
        Assert.Equal(new ModelPolicy("llm-main", "/models/llm-main", 5), Assert.Single(policy.Models));
        Assert.Equal(["/etc/backuptools", "/etc/docker/daemon.json"], policy.ConfigPaths);
        Assert.Equal(new StoragePolicy(20, 10), policy.Storage);
        Assert.Equal(("zstd", 3, 0), (policy.Storage.Compression, policy.Storage.CompressionLevel, policy.Storage.CompressionThreads));
        Assert.Equal(TimeSpan.FromHours(1), policy.Alerts.DelayGrace);
        Assert.Equal(["phone", "sms", "slack"], policy.Alerts.CriticalRoute);
        Assert.Equal(["slack", "email"], policy.Alerts.WarningRoute);
    }

    public static TheoryData<string, string, string> BadPolicies => new()
    {
        // 1. the issue's own example of a message
        {
            "repository: /backup\ntargets:\n  main-db:\n    engine: mariadb\n    host: 127.0.0.1\n    port: 3306\n    retention: { full: 30 days }\n",
            "policy.yml:7:24: targets.main-db.retention.full: '30 days' is not a duration; use forms like 30d, 6h, 15m",
            "duration with words"
        },
        // 2. unknown key at the root
        {
            "repository: /backup\nrepostiory: /other\ntargets: {}\n",
            "policy.yml:2:1: repostiory: unknown key; expected one of: repository, targets, models, config, storage, alerts, metrics, offsite, encryption, platform",
            "misspelt root key"
        },
        // 3. unknown key inside a target
        {
            "repository: /backup\ntargets:\n  cache:\n    engine: redis\n    host: 127.0.0.1\n    port: 6379\n    hots: x\n",
            "policy.yml:7:5: targets.cache.hots: unknown key; expected one of: engine, host, port, socket, user, passwordEnv, passwordFile, dataDir, configFile, url, snapshotRepository, indices, schedule, retention, startCommand, snapshotRepositorySettings, allowEmpty, toolsDir, stream, rpo, rto",
            "misspelt target key"
        },
        // 4. a password in the policy
        {
            "repository: /backup\ntargets:\n  db:\n    engine: mariadb\n    socket: /run/mysqld/mysqld.sock\n    password: hunter2\n",
            "policy.yml:6:5: targets.db.password: secrets never live in the policy; use passwordEnv: <VARIABLE> or passwordFile: <path to a 0600 file>",
            "password in policy"
        },
        // 5. unknown engine
        {
            "repository: /backup\ntargets:\n  db:\n    engine: postgres\n",
            "policy.yml:4:13: targets.db.engine: 'postgres' is not an engine; use mariadb, redis or elasticsearch",
            "unknown engine"
        },
        // 6. port out of range
        {
            "repository: /backup\ntargets:\n  cache:\n    engine: redis\n    host: 127.0.0.1\n    port: 70000\n",
            "policy.yml:6:11: targets.cache.port: '70000' is not a whole number from 1 to 65535",
            "port too big"
        },
        // 7. cron with six fields
        {
            "repository: /backup\ntargets:\n  cache:\n    engine: redis\n    host: 127.0.0.1\n    port: 6379\n    schedule: { snapshot: \"0 0 * * * *\" }\n",
            "policy.yml:7:27: targets.cache.schedule.snapshot: '0 0 * * * *' is not a 5-field cron expression (minute hour day month weekday), e.g. \"0 2 * * *\"",
            "six-field cron"
        },
        // 8. backup type the engine does not have
        {
            "repository: /backup\ntargets:\n  cache:\n    engine: redis\n    host: 127.0.0.1\n    port: 6379\n    retention: { full: 7d }\n",
            "policy.yml:7:18: targets.cache.retention.full: 'full' is not a backup type of redis; use snapshot",
            "wrong backup type"
        },
        // 9. relative repository path
        {
            "repository: backup\ntargets: {}\n",
            "policy.yml:1:13: repository: 'backup' is not an absolute path; write the full path, e.g. /backup",
            "relative repository"
        },
        // 10. repository missing
        {
            "targets: {}\n",
            "policy.yml:1:1: repository: is required",
            "no repository"
        },
        // 11. mariadb without a way to reach it
        {
            "repository: /backup\ntargets:\n  db:\n    engine: mariadb\n    host: 127.0.0.1\n",
            "policy.yml:4:5: targets.db: needs 'socket', or both 'host' and 'port', to reach the server",
            "mariadb unreachable"
        },
        // 12. both password sources
        {
            "repository: /backup\ntargets:\n  db:\n    engine: mariadb\n    socket: /s.sock\n    passwordEnv: P\n    passwordFile: /etc/p\n",
            "policy.yml:7:19: targets.db.passwordFile: give either passwordEnv or passwordFile, not both",
            "two password sources"
        },
        // 13. elasticsearch url that is not http
        {
            "repository: /backup\ntargets:\n  search:\n    engine: elasticsearch\n    url: 127.0.0.1:9200\n    snapshotRepository: backups\n",
            "policy.yml:5:10: targets.search.url: '127.0.0.1:9200' is not an http:// or https:// URL, e.g. http://127.0.0.1:9200",
            "url without scheme"
        },
        // 14. critical above warning
        {
            "repository: /backup\ntargets: {}\nstorage: { warningFreePercent: 10, criticalFreePercent: 20 }\n",
            "policy.yml:3:57: storage.criticalFreePercent: 20 must be below warningFreePercent (10): critical is the lower, later alarm",
            "thresholds swapped"
        },
        // 15. unknown alert channel in a route
        {
            "repository: /backup\ntargets: {}\nalerts:\n  routes: { critical: [pager] }\n",
            "policy.yml:4:24: alerts.routes.critical: 'pager' is not a channel; use phone, sms, slack, email, webhook",
            "unknown channel"
        },
        // 15b. a routed channel nobody configured: its alerts would reach no one
        {
            "repository: /backup\ntargets: {}\nalerts:\n  routes: { critical: [sms] }\n",
            "policy.yml:4:24: alerts.routes.critical: 'sms' has no settings under alerts.channels.sms, so nobody would receive these alerts; add its settings, or remove it from the route",
            "route without channel settings"
        },
        // 16. YAML syntax error (bad indentation)
        {
            "repository: /backup\ntargets:\n  db:\n    engine: mariadb\n   port: 3306\n",
            "policy.yml:5:4: (yaml): While parsing a block mapping, did not find expected key.; check indentation, quoting and duplicate keys",
            "bad indentation"
        },
        // 17. duplicate key
        {
            "repository: /backup\nrepository: /other\ntargets: {}\n",
            "policy.yml:2:1: (yaml): Duplicate key repository; check indentation, quoting and duplicate keys",
            "duplicate key"
        },
        // 18. alerts.delayGrace not a duration
        {
            "repository: /backup\ntargets: {}\nalerts:\n  delayGrace: 1 hour\n",
            "policy.yml:4:15: alerts.delayGrace: '1 hour' is not a duration; use forms like 30d, 6h, 15m",
            "grace in words"
        },
        // 19. models keep of zero
        {
            "repository: /backup\ntargets: {}\nmodels:\n  llm: { path: /models/llm, keep: 0 }\n",
            "policy.yml:4:35: models.llm.keep: '0' is not a whole number from 1 to 1000",
            "keep zero"
        },
        // 20. the file is a list, not a mapping
        {
            "- repository: /backup\n",
            "policy.yml:1:1: (root): the policy must be a mapping with at least 'repository' and 'targets'",
            "root is a list"
        },
        // 21. elasticsearch target without snapshotRepository
        {
            "repository: /backup\ntargets:\n  search:\n    engine: elasticsearch\n    url: http://127.0.0.1:9200\n",
            "policy.yml:4:5: targets.search.snapshotRepository: is required for elasticsearch targets: the name of the snapshot repository registered in the cluster",
            "no snapshot repository"
        },
        // 22. an unknown compression
        {
            "repository: /backup\ntargets: {}\nstorage:\n  compression: gzip\n",
            "policy.yml:4:16: storage.compression: 'gzip' is not a compression; use zstd or none",
            "unknown compression"
        },
        // 23. a zstd level beyond zstd's range
        {
            "repository: /backup\ntargets: {}\nstorage: { compressionLevel: 22 }\n",
            "policy.yml:3:30: storage.compressionLevel: '22' is not a whole number from 1 to 19",
            "compression level out of range"
        },
        // 25. a secret written into a channel
        {
            "repository: /backup\ntargets: {}\nalerts:\n  channels:\n    email: { host: smtp.example.com, from: a@example.com, to: [b@example.com], password: x }\n",
            "policy.yml:5:80: alerts.channels.email.password: secrets never live in the policy; use passwordEnv: <VARIABLE> or passwordFile: <path to a 0600 file>",
            "password in an alert channel"
        },
        // 26. a Twilio channel without its token
        {
            "repository: /backup\ntargets: {}\nalerts:\n  channels:\n    sms: { accountSid: AC1, from: '+100', to: ['+200'] }\n",
            "policy.yml:5:10: alerts.channels.sms.authTokenEnv: is required: the environment variable holding the authToken (or authTokenFile)",
            "twilio without token"
        },
        // 24. configFile belongs to mariadb targets
        {
            "repository: /backup\ntargets:\n  cache:\n    engine: redis\n    host: 127.0.0.1\n    port: 6379\n    configFile: /etc/redis.conf\n",
            "policy.yml:7:17: targets.cache.configFile: is for mariadb targets (the server's option file mariabackup includes)",
            "configFile on redis"
        },
        // 25. startCommand needs an absolute program (cron and services have a minimal PATH)
        {
            "repository: /backup\ntargets:\n  cache:\n    engine: redis\n    host: 127.0.0.1\n    port: 6379\n    startCommand: [systemctl, start, redis-server]\n",
            "policy.yml:7:19: targets.cache.startCommand: 'systemctl' must be an absolute path (cron and services have a minimal PATH), e.g. [/usr/bin/systemctl, start, redis-server]",
            "relative startCommand"
        },
        // 26. a repository to register needs its type
        {
            "repository: /backup\ntargets:\n  search:\n    engine: elasticsearch\n    url: http://127.0.0.1:9200\n    snapshotRepository: backups\n    snapshotRepositorySettings: { location: /mnt/es }\n",
            "policy.yml:7:33: targets.search.snapshotRepositorySettings.type: is required: the repository type (fs, s3, azure, gcs, url), e.g. { type: fs, location: /mnt/es-backups }",
            "repository settings without type"
        },
    };

    [Theory]
    [MemberData(nameof(BadPolicies))]
    public void BadPolicyIsReportedAtItsExactPlace(string yaml, string expected, string why)
    {
        var (policy, problems) = PolicyParser.Parse(yaml, "/etc/backuptools/policy.yml");
        Assert.Null(policy);
        Assert.True(problems.Count >= 1, why);
        Assert.Equal(expected, problems[0].ToString());
        Assert.All(problems, p => Assert.Equal("/etc/backuptools/policy.yml", p.File));
    }

    [Fact]
    public void RedisStartCommandAndElasticsearchRepositorySettingsParse()
    {
        var (policy, problems) = PolicyParser.Parse("repository: /backup\ntargets:\n  cache:\n    engine: redis\n    host: 127.0.0.1\n    port: 6379\n" +
                         "    startCommand: [/usr/bin/systemctl, start, redis-server]\n  search:\n    engine: elasticsearch\n    url: http://127.0.0.1:9200\n" +
                         "    snapshotRepository: backups\n    snapshotRepositorySettings: { type: fs, location: /mnt/es }\n", File);
        Assert.Empty(problems);
        Assert.Equal(["/usr/bin/systemctl", "start", "redis-server"], policy!.FindTarget("cache")!.StartCommand);
        Assert.Equal(new Dictionary<string, string> { ["type"] = "fs", ["location"] = "/mnt/es" }, policy.FindTarget("search")!.SnapshotRepositorySettings);
    }

    [Fact]
    public void AModelsOrConfigOnlyPolicyNeedsNoTargets()
    {
        var (models, problems) = PolicyParser.Parse("repository: /backup\nmodels:\n  llm: { path: /srv/models/llm }\n", File);
        Assert.Empty(problems);
        Assert.Empty(models!.Targets);
        var (config, configProblems) = PolicyParser.Parse("repository: /backup\nconfig: { paths: [/etc/nginx] }\n", File);
        Assert.Empty(configProblems);
        Assert.Single(config!.ConfigPaths);
        var (_, none) = PolicyParser.Parse("repository: /backup\n", File);
        Assert.Contains(none, p => p.Key == "targets");
    }

    [Fact]
    public void ANameWithATrailingNewlineIsRefused()
    {
        var (_, problems) = PolicyParser.Parse("repository: /backup\ntargets:\n  \"db\\n\": { engine: redis, host: 127.0.0.1, port: 6379 }\nmodels:\n  \"m\\n\": { path: /m }\n", File);
        Assert.Equal(2, problems.Count);
        Assert.All(problems, p => Assert.Contains("letters, digits", p.Message));
    }

    [Theory]
    [InlineData("status")]
    [InlineData("retention")]
    [InlineData("model-llm")]
    public void TargetsNamedLikeHousekeepingJobsAreRefused(string name)
    {
        var (_, problems) = PolicyParser.Parse($"repository: /backup\ntargets:\n  {name}:\n    engine: redis\n    host: 127.0.0.1\n    port: 6379\n", File);
        var problem = Assert.Single(problems);
        Assert.Equal($"targets.{name}", problem.Key);
        Assert.Contains("housekeeping job", problem.Message);
    }

    [Fact]
    public void EveryProblemInOneFileIsReportedInOnePass()
    {
        const string yaml = "repository: backup\ntargets:\n  db:\n    engine: mariadb\n    port: 0\n    colour: blue\n";
        var (_, problems) = PolicyParser.Parse(yaml, File);
        Assert.Equal(
        [
            "policy.yml:6:5: targets.db.colour: unknown key; expected one of: engine, host, port, socket, user, passwordEnv, passwordFile, dataDir, configFile, url, snapshotRepository, indices, schedule, retention, startCommand, snapshotRepositorySettings, allowEmpty, toolsDir, stream, rpo, rto",
            "policy.yml:5:11: targets.db.port: '0' is not a whole number from 1 to 65535",
            "policy.yml:4:5: targets.db: needs 'socket', or both 'host' and 'port', to reach the server",
            "policy.yml:1:13: repository: 'backup' is not an absolute path; write the full path, e.g. /backup",
        ], problems.Select(p => p.ToString()).OrderDescending(StringComparer.Ordinal));
    }

    [Fact]
    public void AlertChannelsParseWithSecretsByReferenceOnly()
    {
        var (policy, problems) = PolicyParser.Parse("""
            repository: /backup
            targets: {}
            alerts:
              repeatEvery: 2h
              channels:
                slack: { webhookUrlEnv: SLACK_URL }
                email: { host: smtp.example.com, security: ssl, user: alerts, passwordFile: /etc/backuptools/smtp.secret, from: backup@example.com, to: [ops@example.com, dba@example.com] }
                sms: { accountSid: AC123, authTokenEnv: TWILIO_TOKEN, from: "+15550001", to: ["+15550002"], apiBase: "http://127.0.0.1:9999/" }
                phone: { accountSid: AC123, authTokenEnv: TWILIO_TOKEN, from: "+15550001", to: ["+15550003"] }
                webhook: { url: "https://hooks.example.com/backup" }
            """, "policy.yml");
        Assert.Empty(problems);
        var a = policy!.Alerts;
        Assert.Equal(TimeSpan.FromHours(2), a.RepeatEvery);
        Assert.Equal(["phone", "sms", "slack"], a.CriticalRoute);
        Assert.Equal(new SlackChannel("env:SLACK_URL"), a.Channels["slack"]);
        var email = Assert.IsType<EmailChannel>(a.Channels["email"]);
        Assert.Equal(("smtp.example.com", 465, "ssl", "file:/etc/backuptools/smtp.secret"), (email.Host, email.Port, email.Security, email.PasswordSource));
        Assert.Equal(["ops@example.com", "dba@example.com"], email.To);
        var sms = Assert.IsType<TwilioChannel>(a.Channels["sms"]);
        Assert.Equal(("sms", "env:TWILIO_TOKEN", "http://127.0.0.1:9999"), (sms.Name, sms.AuthTokenSource, sms.ApiBase));
        Assert.Equal("https://api.twilio.com", Assert.IsType<TwilioChannel>(a.Channels["phone"]).ApiBase);
        Assert.Equal(new WebhookChannel("value:https://hooks.example.com/backup"), a.Channels["webhook"]);
    }

    [Theory]
    [InlineData("30d", 30 * 24 * 60)]
    [InlineData("6h", 6 * 60)]
    [InlineData("15m", 15)]
    [InlineData("2w", 14 * 24 * 60)]
    public void DurationsParse(string text, int minutes)
    {
        Assert.True(Duration.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMinutes(minutes), value);
    }

    [Theory]
    [InlineData("30 days")]
    [InlineData("0d")]
    [InlineData("1.5h")]
    [InlineData("-1d")]
    [InlineData("")]
    [InlineData("d")]
    public void NonDurationsAreRejected(string text) => Assert.False(Duration.TryParse(text, out _));

    [Fact]
    public void LoadPrefersExplicitPathThenEnvironmentThenDefault()
    {
        using var dir = new TempDirectory();
        var envPolicy = dir.Combine("env.yml");
        System.IO.File.WriteAllText(envPolicy, "repository: /from-env\ntargets: {}\n");
        var explicitPolicy = dir.Combine("explicit.yml");
        System.IO.File.WriteAllText(explicitPolicy, "repository: /from-explicit\ntargets: {}\n");
        var saved = Environment.GetEnvironmentVariable(PolicyLocator.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(PolicyLocator.EnvironmentVariable, envPolicy);
            Assert.Equal("/from-explicit", PolicyParser.Load(explicitPolicy).Repository);
            Assert.Equal("/from-env", PolicyParser.Load(null).Repository);
            Environment.SetEnvironmentVariable(PolicyLocator.EnvironmentVariable, null);
            Assert.Equal(("/etc/backuptools/policy.yml", "the default location"), PolicyLocator.Resolve(null));
            var missing = Assert.Throws<PolicyNotFoundException>(() => PolicyParser.Load(dir.Combine("nope.yml")));
            Assert.Contains("nope.yml", missing.Message);
            Assert.Contains("-Policy", missing.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(PolicyLocator.EnvironmentVariable, saved);
        }
    }

    [Fact]
    public void InvalidPolicyThrowsWithEveryProblem()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("policy.yml");
        System.IO.File.WriteAllText(path, "repository: x\ntargets: {}\nextra: 1\n");
        var e = Assert.Throws<PolicyException>(() => PolicyParser.Load(path));
        Assert.Equal(2, e.Problems.Count);
        Assert.Contains("Test-BackupPolicy", e.Message);
    }

    private const string OffsiteBase = "repository: /backup\ntargets:\n  db: { engine: mariadb, socket: /run/mysqld/mysqld.sock }\nmodels:\n  llm: { path: /srv/llm }\n";

    [Fact]
    public void OffsiteAndEncryptionParseWithTheKeyNamesTheIssueGives()
    {
        var (policy, problems) = PolicyParser.Parse(OffsiteBase + """
            offsite:
              azure:
                kind: azureBlob
                connectionStringEnv: BACKUP_AZURE_CONN
                container: backups
                prefix: prod/
                copies: all
                retention: { full: 90d, incremental: 14d, binlog: 30d, snapshot: 30d, model: 10 }
                immutableDays: 30
                maxMBps: 50
                maxLag: 2h
              s3:
                kind: s3
                endpoint: https://s3.eu-west-1.amazonaws.com
                bucket: backups
                accessKeyIdEnv: BACKUP_S3_KEY
                secretAccessKeyFile: /etc/backuptools/s3.secret
                copies: [db]
            encryption:
              keyFile: /etc/backuptools/backup.key
              local: false
            """, File);
        Assert.Empty(problems);
        var azure = policy!.Offsite.Single(o => o.Name == "azure");
        Assert.Equal(OffsiteKind.AzureBlob, azure.Kind);
        Assert.Equal("env:BACKUP_AZURE_CONN", azure.ConnectionStringSource);
        Assert.Equal(("backups", "prod/", 30, 50.0), (azure.Container, azure.Prefix, azure.ImmutableDays, azure.MaxMBps));
        Assert.Null(azure.Copies);
        Assert.Equal(TimeSpan.FromDays(90), azure.Retention["full"]);
        Assert.Equal(10, azure.ModelVersionsKept);
        Assert.Equal(TimeSpan.FromHours(2), azure.MaxLag);
        var s3 = policy.Offsite.Single(o => o.Name == "s3");
        Assert.Equal(("backups", "env:BACKUP_S3_KEY", "file:/etc/backuptools/s3.secret"), (s3.Bucket, s3.AccessKeyIdSource, s3.SecretAccessKeySource));
        Assert.Equal(["db"], s3.Copies);
        Assert.Equal("file:/etc/backuptools/backup.key", policy.Encryption!.KeySource);
        // Every secret the policy names, the key file above all, stays out of the config history.
        Assert.Contains("/etc/backuptools/backup.key", PolicySecrets.Files(policy));
        Assert.Contains("/etc/backuptools/s3.secret", PolicySecrets.Files(policy));
    }

    [Theory]
    [InlineData("offsite:\n  a: { kind: azureBlob, connectionStringEnv: X, container: b }\n", "offsite: copies leave this host and are always encrypted")]
    [InlineData("offsite:\n  a: { kind: gcs, bucket: bkt }\nencryption: { keyFile: /k }\n", "offsite.a.kind: 'gcs' is not a kind of offsite repository; use azureBlob or s3")]
    [InlineData("offsite:\n  a: { kind: azureBlob, container: b }\nencryption: { keyFile: /k }\n", "offsite.a.connectionStringEnv: is required")]
    [InlineData("offsite:\n  a: { kind: azureBlob, connectionString: 'AccountKey=x', container: b }\nencryption: { keyFile: /k }\n", "offsite.a.connectionString: secrets never live in the policy")]
    [InlineData("offsite:\n  a: { kind: azureBlob, connectionStringEnv: X, container: Bad_Name }\nencryption: { keyFile: /k }\n", "offsite.a.container: 'Bad_Name' is not an Azure container name")]
    [InlineData("offsite:\n  a: { kind: s3, bucket: bkt, accessKeyIdEnv: K }\nencryption: { keyFile: /k }\n", "offsite.a: give both accessKeyId")]
    [InlineData("offsite:\n  a: { kind: s3, bucket: bkt, copies: [nope] }\nencryption: { keyFile: /k }\n", "offsite.a.copies: 'nope' is not a target or model of this policy")]
    [InlineData("offsite:\n  a: { kind: s3, bucket: B_1 }\nencryption: { keyFile: /k }\n", "offsite.a.bucket: 'B_1' is not an S3 bucket name")]
    [InlineData("offsite:\n  a: { kind: s3, bucket: bkt, prefix: /abs }\nencryption: { keyFile: /k }\n", "offsite.a.prefix: '/abs' must be a relative path ending in '/'")]
    [InlineData("encryption: { key: c2VjcmV0 }\n", "encryption.key: the key never lives in the policy")]
    [InlineData("encryption: { keyFile: /k, keyEnv: K }\n", "encryption.keyEnv: give either keyFile or keyEnv, not both")]
    public void OffsiteAndEncryptionMistakesAreNamed(string yaml, string expected)
    {
        var (policy, problems) = PolicyParser.Parse(OffsiteBase + yaml, File);
        Assert.Null(policy);
        Assert.Contains(problems, p => $"{p.Key}: {p.Message}".StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void AStreamSectionGivesItsLimitsSyncModeAndClient()
    {
        var (policy, problems) = PolicyParser.Parse("repository: /backup\ntargets:\n  db: { engine: mariadb, socket: /s, stream: { maxLag: 30s, maxGap: 5m, sync: second } }\n", File);
        Assert.Empty(problems);
        var t = policy!.Targets[0];
        Assert.Equal((true, TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(5), false), (t.Stream, t.StreamMaxLag, t.StreamMaxGap, t.StreamSyncCommit));
        (policy, problems) = PolicyParser.Parse("repository: /backup\ntargets:\n  db: { engine: mariadb, socket: /s, stream: { sync: commit } }\n", File);
        Assert.Empty(problems);
        Assert.True(policy!.Targets[0].StreamSyncCommit);
        Assert.False(policy.Targets[0].StreamWithMariaDbBinlog); // the own replica connection unless told
        (policy, problems) = PolicyParser.Parse("repository: /backup\ntargets:\n  db: { engine: mariadb, socket: /s, stream: { client: mariadb-binlog } }\n", File);
        Assert.Empty(problems);
        Assert.True(policy!.Targets[0].StreamWithMariaDbBinlog);
        (policy, problems) = PolicyParser.Parse("repository: /backup\ntargets:\n  db: { engine: mariadb, socket: /s, stream: { client: builtin } }\n", File);
        Assert.Empty(problems);
        Assert.False(policy!.Targets[0].StreamWithMariaDbBinlog);
        (_, problems) = PolicyParser.Parse("repository: /backup\ntargets:\n  db: { engine: mariadb, socket: /s, stream: { client: mysqlbinlog } }\n", File);
        Assert.Contains(problems, p => p.Key == "targets.db.stream.client" && p.Message.Contains("'mysqlbinlog'") && p.Message.Contains("'mariadb-binlog'"));
        (policy, _) = PolicyParser.Parse("repository: /backup\ntargets:\n  db: { engine: mariadb, socket: /s }\n", File);
        Assert.False(policy!.Targets[0].Stream);
        (_, problems) = PolicyParser.Parse("repository: /backup\ntargets:\n  db: { engine: mariadb, socket: /s, stream: { sync: always } }\n", File);
        Assert.Contains(problems, p => p.Key == "targets.db.stream.sync" && p.Message.Contains("'commit'"));
        (_, problems) = PolicyParser.Parse("repository: /backup\ntargets:\n  c: { engine: redis, host: h, port: 1, stream: { maxLag: 1m } }\n", File);
        Assert.Contains(problems, p => p.Key == "targets.c.stream" && p.Message.Contains("mariadb"));
    }
    private const string PlatformBase = "repository: /backup\ntargets:\n  db: { engine: mariadb, socket: /s, rpo: 1m, rto: 30m }\n" +
        "models:\n  llm: { path: /srv/llm, rpo: 1d }\nconfig: { paths: [/etc/llm] }\n";

    [Fact]
    public void ObjectivesAndAPlatformSectionParse()
    {
        var (policy, problems) = PolicyParser.Parse(PlatformBase + "platform: { targets: [db], models: [llm], config: [/etc/llm/app.conf, /etc/llm/], scratch: /srv/drills, rto: 1h }\n", File);
        Assert.Empty(problems);
        Assert.Equal((TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(30)), (policy!.Targets[0].Rpo!.Value, policy.Targets[0].Rto!.Value));
        Assert.Equal(TimeSpan.FromDays(1), policy.Models[0].Rpo);
        Assert.Null(policy.Models[0].Rto);
        var platform = policy.Platform!;
        Assert.Equal(["db"], platform.Targets);
        Assert.Equal(["llm"], platform.Models);
        Assert.Equal(["/etc/llm/app.conf", "/etc/llm"], platform.Config);
        Assert.Equal(("/srv/drills", TimeSpan.FromHours(1)), (platform.Scratch, platform.Rto!.Value));
        (policy, _) = PolicyParser.Parse(PlatformBase.Replace(", rto: 30m", "", StringComparison.Ordinal), File);
        Assert.Null(policy!.Platform);
    }

    [Theory]
    [InlineData("", "targets.db.rto", "add a platform: section that includes this target")]
    [InlineData("platform: { models: [llm] }\n", "targets.db.rto", "does not include db; add it to platform.targets")]
    [InlineData("platform: { targets: [db, search] }\n", "targets.search.rto", "restores into its server, not into scratch")]
    public void AnRtoNoDrillCanMeasureIsAProblem(string platform, string key, string message)
    {
        var yaml = PlatformBase.Replace("models:", "  search: { engine: elasticsearch, url: \"http://127.0.0.1:9200\", snapshotRepository: r, rto: 1h }\nmodels:", StringComparison.Ordinal);
        var (policy, problems) = PolicyParser.Parse(yaml + platform, File);
        Assert.Null(policy);
        Assert.Contains(problems, p => p.Key == key && p.Message.Contains(message, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("platform: { targets: [nope] }", "platform.targets", "'nope' is not a target of this policy; name one of: db")]
    [InlineData("platform: { models: [db] }", "platform.models", "'db' is not a model of this policy; name one of: llm")]
    [InlineData("platform: { config: [/etc/other] }", "platform.config", "'/etc/other' is not under any of config.paths (/etc/llm)")]
    [InlineData("platform: { config: [/etc/llmx] }", "platform.config", "'/etc/llmx' is not under any of config.paths")]
    [InlineData("platform: { config: [etc/llm] }", "platform.config", "is not an absolute path")]
    [InlineData("platform: { targets: [] }", "platform", "names no parts")]
    [InlineData("platform: { targets: [db], drills: weekly }", "platform.drills", "")]
    [InlineData("platform: { targets: [db], scratch: tmp }", "platform.scratch", "")]
    public void APlatformPartNothingBacksUpIsAProblem(string section, string key, string message)
    {
        var (policy, problems) = PolicyParser.Parse(PlatformBase + section + "\n", File);
        Assert.Null(policy);
        Assert.Contains(problems, p => p.Key == key && p.Message.Contains(message, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("  db2: { engine: mariadb, socket: /s, rpo: 0s }", "targets.db2.rpo", "'0s' is not a duration")]
    [InlineData("  db2: { engine: mariadb, socket: /s, rto: soon }", "targets.db2.rto", "is not a duration")]
    public void AnObjectiveIsAPositiveDuration(string target, string key, string message)
    {
        var (_, problems) = PolicyParser.Parse(PlatformBase.Replace("models:", target + "\nmodels:", StringComparison.Ordinal), File);
        Assert.Contains(problems, p => p.Key == key && p.Message.Contains(message, StringComparison.Ordinal));
    }
}
