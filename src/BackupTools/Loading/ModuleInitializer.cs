using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace BackupTools.Loading;

/// <summary>
/// On import, routes the one name "BackupTools.Engine" from the default context to the private
/// <see cref="EngineLoadContext"/> (files under <c>deps/</c>). Everything the engine needs then resolves inside
/// that context. Safe to run again on <c>Import-Module -Force</c>: the context is created once per process.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string EngineName = "BackupTools.Engine";
    private static readonly object s_gate = new();
    private static EngineLoadContext? s_context;
    private static bool s_hooked;

    internal static string ModuleDirectory { get; } = Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!;

    public void OnImport()
    {
        lock (s_gate)
        {
            s_context ??= new EngineLoadContext(Path.Combine(ModuleDirectory, "deps", EngineName + ".dll"));
            if (s_hooked) return;
            AssemblyLoadContext.Default.Resolving += ResolveFromModule;
            s_hooked = true;
        }
    }

    public void OnRemove(PSModuleInfo module)
    {
        lock (s_gate)
        {
            if (!s_hooked) return;
            AssemblyLoadContext.Default.Resolving -= ResolveFromModule;
            s_hooked = false;
        }
    }

    private static Assembly? ResolveFromModule(AssemblyLoadContext defaultContext, AssemblyName name)
    {
        if (name.Name == EngineName) return s_context?.LoadFromAssemblyName(name);
        // The engine asks the default context for Model; it sits beside this assembly.
        if (name.Name == "BackupTools.Model")
        {
            var path = Path.Combine(ModuleDirectory, "BackupTools.Model.dll");
            return File.Exists(path) ? defaultContext.LoadFromAssemblyPath(path) : null;
        }
        return null;
    }
}
