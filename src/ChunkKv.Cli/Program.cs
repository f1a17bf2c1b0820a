using System.Globalization;
using ChunkKv.Cli;

// Figures and JSON read the same whatever the user's locale (other tools parse this output).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
return await CliApp.RunAsync(args, Console.Out, Console.Error);
