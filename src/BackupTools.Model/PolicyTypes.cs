namespace BackupTools.Model;

/// <summary>The parsed policy file as PowerShell sees it. Secrets are never held here, only where they come from.</summary>
public sealed record BackupPolicy
{
    public required string Path { get; init; }
    public required string Repository { get; init; }
    public required IReadOnlyList<TargetPolicy> Targets { get; init; }
    public required IReadOnlyList<ModelPolicy> Models { get; init; }
    public required IReadOnlyList<string> ConfigPaths { get; init; }
    /// <summary>config.exclude: more name patterns to keep out of the config history, beside the built-in secret patterns.</summary>
    public IReadOnlyList<string> ConfigExcludes { get; init; } = [];
    /// <summary>metrics.path: the node_exporter textfile Register-BackupSchedule keeps current with Export-BackupMetric.</summary>
    public string? MetricsPath { get; init; }
    /// <summary>offsite: the remote repositories copies go to (encrypted).</summary>
    public IReadOnlyList<OffsitePolicy> Offsite { get; init; } = Array.Empty<OffsitePolicy>();
    /// <summary>encryption: the key of offsite copies (and of the local repository when Local).</summary>
    public EncryptionPolicy? Encryption { get; init; }
    /// <summary>The parts restored together to one point (Restore-Platform, Test-Platform); null without a platform: section.</summary>
    public PlatformPolicy? Platform { get; init; }
    /// <summary>config.remote: a Git URL or path the config history is pushed to after each commit.</summary>
    public string? ConfigRemote { get; init; }
    public required StoragePolicy Storage { get; init; }
    public required AlertPolicy Alerts { get; init; }

    public TargetPolicy? FindTarget(string name) =>
        Targets.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase));
}

public enum TargetEngine { MariaDb, Redis, Elasticsearch }

public sealed record TargetPolicy
{
    public required string Name { get; init; }
    public required TargetEngine Engine { get; init; }
    public string? Host { get; init; }
    public int? Port { get; init; }
    public string? Socket { get; init; }
    public string? User { get; init; }
    /// <summary>Where the secret comes from, e.g. <c>env:BACKUP_DB_PASSWORD</c> or <c>file:/etc/backuptools/x.secret</c>; never the secret.</summary>
    public string? PasswordSource { get; init; }
    public string? DataDir { get; init; }
    /// <summary>MariaDB: the server's option file, included in the one mariabackup reads (e.g. /etc/mysql/my.cnf).</summary>
    public string? ConfigFile { get; init; }
    /// <summary>MariaDB: the directory holding the server release's own mariabackup, mbstream, mariadb-binlog, mariadb and mariadbd; else PATH.</summary>
    public string? ToolsDir { get; init; }
    public string? Url { get; init; }
    public string? SnapshotRepository { get; init; }
    public IReadOnlyList<string> Indices { get; init; } = Array.Empty<string>();
    /// <summary>Elasticsearch: how to register the snapshot repository when the cluster lacks it ("type" plus its settings).</summary>
    public IReadOnlyDictionary<string, string> SnapshotRepositorySettings { get; init; } = new Dictionary<string, string>();
    /// <summary>Redis: the program and arguments that start the server again after a -Replace restore (else we wait for its supervisor).</summary>
    public IReadOnlyList<string> StartCommand { get; init; } = Array.Empty<string>();
    /// <summary>
    /// The target may legitimately hold nothing: an empty Elasticsearch snapshot, a Redis dump of 0 keys after one with
    /// keys, or a MariaDB full backup without user tables after one with some is then a success, not a failure.
    /// </summary>
    public bool AllowEmpty { get; init; }
    /// <summary>MariaDB: the policy has a <c>stream:</c> section: the binary logs are streamed continuously (a service runs Start-BinlogStream).</summary>
    public bool Stream { get; init; }
    /// <summary>MariaDB: binary-log streaming (Start-BinlogStream): a lag past this is a Warning; null when not configured (10 s then).</summary>
    public TimeSpan? StreamMaxLag { get; init; }
    /// <summary>MariaDB streaming: not receiving (disconnected, retrying) for longer than this is a Warning; null: 1 minute.</summary>
    public TimeSpan? StreamMaxGap { get; init; }
    /// <summary>MariaDB streaming: fsync the file being received at every transaction end (<c>sync: commit</c>), not only once a second.</summary>
    public bool StreamSyncCommit { get; init; }
    /// <summary>
    /// MariaDB streaming (<c>client: mariadb-binlog</c>): receive through the server release's mariadb-binlog instead of
    /// the module's own replica connection (which a login with another authentication plugin than mysql_native_password
    /// or unix_socket also falls back to).
    /// </summary>
    public bool StreamWithMariaDbBinlog { get; init; }
    /// <summary>Recovery point objective: the newest restorable point may be at most this old (Get-BackupStatus warns past it).</summary>
    public TimeSpan? Rpo { get; init; }
    /// <summary>Recovery time objective: a restore (as the last drill measured it) may take at most this long.</summary>
    public TimeSpan? Rto { get; init; }
    /// <summary>Backup type (full, incremental, binlog, snapshot) → 5-field cron expression.</summary>
    public IReadOnlyDictionary<string, string> Schedule { get; init; } = new Dictionary<string, string>();
    /// <summary>Backup type → how long its sets are kept.</summary>
    public IReadOnlyDictionary<string, TimeSpan> Retention { get; init; } = new Dictionary<string, TimeSpan>();

    /// <summary>Where the server is reached: the socket when set, else host:port, else the URL.</summary>
    public string Endpoint => Url ?? (Socket is not null ? $"unix:{Socket}" : $"{Host}:{Port}");
}

public sealed record ModelPolicy(string Name, string Path, int Keep)
{
    /// <summary>Restore setuid, setgid and sticky bits too (off by default: root would restore a root-owned setuid file).</summary>
    public bool KeepSpecialBits { get; init; }
    /// <summary>Recovery point objective: the newest version may be at most this old.</summary>
    public TimeSpan? Rpo { get; init; }
    /// <summary>Recovery time objective: a restore of the model (as the last drill measured it) may take at most this long.</summary>
    public TimeSpan? Rto { get; init; }
}

/// <summary>
/// The parts of the platform that are restored together to one point in time: targets, models and config paths, and
/// the scratch directory drills (Test-Platform) restore into.
/// </summary>
public sealed record PlatformPolicy
{
    public IReadOnlyList<string> Targets { get; init; } = [];
    public IReadOnlyList<string> Models { get; init; } = [];
    /// <summary>Config files or directories (each under one of config.paths) restored as of the point.</summary>
    public IReadOnlyList<string> Config { get; init; } = [];
    /// <summary>Where drills restore; null: a directory beside the repository (&lt;repository&gt;/_scratch).</summary>
    public string? Scratch { get; init; }
    /// <summary>Recovery time objective of the whole platform, as the last drill measured it.</summary>
    public TimeSpan? Rto { get; init; }
}

/// <summary>Free-space alarms and how backup streams are stored.</summary>
public sealed record StoragePolicy(int WarningFreePercent, int CriticalFreePercent)
{
    /// <summary><c>zstd</c> (default) or <c>none</c>.</summary>
    public string Compression { get; init; } = "zstd";
    public int CompressionLevel { get; init; } = 3;
    /// <summary>zstd worker threads; 0 means one per core.</summary>
    public int CompressionThreads { get; init; }
}

public sealed record AlertPolicy
{
    public TimeSpan DelayGrace { get; init; } = TimeSpan.FromHours(1);
    /// <summary>The same alert (target + type + state) is not sent again within this time.</summary>
    public TimeSpan RepeatEvery { get; init; } = TimeSpan.FromHours(4);
    public IReadOnlyList<string> CriticalRoute { get; init; } = ["phone", "sms", "slack"];
    public IReadOnlyList<string> WarningRoute { get; init; } = ["slack", "email"];
    /// <summary>Channel name → its settings; a routed channel without settings is reported when alerts are sent.</summary>
    public IReadOnlyDictionary<string, AlertChannel> Channels { get; init; } = new Dictionary<string, AlertChannel>();
    /// <summary>alerts.heartbeat: push URLs every scheduled job pings (start, success, fail), as sources ("value:…", "env:X", "file:/p").</summary>
    public IReadOnlyList<string> Heartbeats { get; init; } = [];
}

/// <summary>Where alerts of a channel go. Secrets are only ever named by where they come from ("env:X" / "file:/p").</summary>
public abstract record AlertChannel(string Name);

/// <summary>Slack incoming webhook; its URL is a secret.</summary>
public sealed record SlackChannel(string WebhookUrlSource) : AlertChannel("slack");

/// <summary>E-mail through SMTP.</summary>
public sealed record EmailChannel(string Host, int Port, string Security, string From, IReadOnlyList<string> To) : AlertChannel("email")
{
    public string? User { get; init; }
    public string? PasswordSource { get; init; }
}

/// <summary>Twilio Messages (sms) or Calls (phone).</summary>
public sealed record TwilioChannel(string Name, string AccountSid, string AuthTokenSource, string From, IReadOnlyList<string> To, string ApiBase)
    : AlertChannel(Name);

/// <summary>Any HTTP endpoint that takes the alert as JSON; UrlSource is "value:&lt;url&gt;", "env:X" or "file:/p".</summary>
public sealed record WebhookChannel(string UrlSource) : AlertChannel("webhook");

/// <summary>One problem found in a policy file, pointing at the exact place.</summary>
public sealed record PolicyProblem(string File, int Line, int Column, string Key, string Message)
{
    public override string ToString() => $"{System.IO.Path.GetFileName(File)}:{Line}:{Column}: {Key}: {Message}";
}
