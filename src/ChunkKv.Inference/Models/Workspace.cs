using System.Runtime.InteropServices;

namespace ChunkKv.Inference.Models;

/// <summary>
/// Scratch buffers of a forward pass, kept across layers and calls: a fresh large allocation costs
/// a page fault per 4 KiB, so buffers only ever grow. One workspace serves one call at a time.
/// </summary>
internal sealed unsafe class Workspace : IDisposable
{
    private readonly Dictionary<string, (IntPtr Pointer, long Floats)> buffers = [];

    /// <summary>A buffer of at least <paramref name="floats"/> floats, contents undefined.</summary>
    public float* Get(string name, long floats)
    {
        if (buffers.TryGetValue(name, out var buffer) && buffer.Floats >= floats)
        {
            return (float*)buffer.Pointer;
        }
        if (buffer.Pointer != IntPtr.Zero)
        {
            NativeMemory.AlignedFree((void*)buffer.Pointer);
        }
        var size = Math.Max(floats, buffer.Floats * 3 / 2);
        var pointer = (IntPtr)NativeMemory.AlignedAlloc((nuint)(size * sizeof(float)), 64);
        buffers[name] = (pointer, size);
        return (float*)pointer;
    }

    public void Dispose()
    {
        foreach (var (pointer, _) in buffers.Values)
        {
            NativeMemory.AlignedFree((void*)pointer);
        }
        buffers.Clear();
    }
}
