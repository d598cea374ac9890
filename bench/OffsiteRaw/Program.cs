using System.Diagnostics;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

// upload <container> <file>...: uploads each file (8 MiB blocks, 4 at a time, MD5 per block, as Copy-BackupSet does),
// prints the seconds it took. delete <container>: removes the container. The connection string comes from
// BENCH_AZURE_CONN (never the command line).
var connection = Environment.GetEnvironmentVariable("BENCH_AZURE_CONN") ?? throw new InvalidOperationException("BENCH_AZURE_CONN is not set.");
var container = new BlobContainerClient(connection, args[1]);
if (args[0] == "delete")
{
    await container.DeleteIfExistsAsync();
    return;
}
await container.CreateIfNotExistsAsync();
var clock = Stopwatch.StartNew();
foreach (var file in args.Skip(2))
    await container.GetBlobClient(Path.GetFileName(file)).UploadAsync(file, new BlobUploadOptions
    {
        TransferOptions = new StorageTransferOptions { InitialTransferSize = 8 << 20, MaximumTransferSize = 8 << 20, MaximumConcurrency = 4 },
        TransferValidation = new UploadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 },
    });
Console.WriteLine(clock.Elapsed.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
