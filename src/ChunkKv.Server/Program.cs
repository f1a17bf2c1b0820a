// The server's entry point: `dotnet ChunkKv.Server.dll [--Model DIR] [--urls URL] ...` (see ChunkKvServer).
ChunkKv.Server.ChunkKvServer.Build(args).Run();

/// <summary>Entry point, visible to the in-process API tests.</summary>
public partial class Program;
