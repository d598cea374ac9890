using System.Reflection;
using System.Runtime.Loader;

namespace BackupTools.Loading;

/// <summary>
/// The private load context that holds BackupTools.Engine and every third-party package it uses, so our
/// MySqlConnector, Elastic client, LibGit2Sharp and YamlDotNet never meet the copies that
/// PowerShell or another module already loaded. Model, the cmdlet assembly and PowerShell itself come from the
/// default context (return null), so the types that cross into the pipeline have one identity.
/// </summary>
internal sealed class EngineLoadContext : AssemblyLoadContext
{
    private static readonly HashSet<string> SharedWithDefault = new(StringComparer.OrdinalIgnoreCase)
    {
        "BackupTools", "BackupTools.Model", "System.Management.Automation",
    };

    private readonly AssemblyDependencyResolver _resolver;

    public EngineLoadContext(string engineAssemblyPath) : base("BackupTools.Engine", isCollectible: false)
    {
        _resolver = new AssemblyDependencyResolver(engineAssemblyPath);
    }

    /// <summary>The shared framework's own directory (System.*.dll of the running .NET).</summary>
    private static readonly string FrameworkDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (assemblyName.Name is null || SharedWithDefault.Contains(assemblyName.Name)) return null;
        // Packages such as System.Text.Json ship net8.0 copies that are older than the framework PowerShell runs on;
        // the framework's own copy is newer and already loaded, so take it.
        if (IsSatisfiedByFramework(assemblyName)) return null;
        var path = _resolver.ResolveAssemblyToPath(assemblyName);
        return path is null ? null : LoadFromAssemblyPath(path);
    }

    private static bool IsSatisfiedByFramework(AssemblyName name)
    {
        var path = Path.Combine(FrameworkDirectory, name.Name + ".dll");
        if (!File.Exists(path)) return false;
        try { return AssemblyName.GetAssemblyName(path).Version >= (name.Version ?? new Version(0, 0)); }
        catch (BadImageFormatException) { return false; }
    }

    // Finds libgit2 under runtimes/<rid>/native/, which PowerShell itself never searches.
    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        var path = _resolver.ResolveUnmanagedDllToPath(unmanagedDllName);
        return path is null ? IntPtr.Zero : LoadUnmanagedDllFromPath(path);
    }
}
