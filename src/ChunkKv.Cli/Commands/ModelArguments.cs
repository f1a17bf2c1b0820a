using ChunkKv.Inference.Models;

namespace ChunkKv.Cli.Commands;

/// <summary>The <c>--model DIR</c> option the model verbs share.</summary>
internal static class ModelArguments
{
    public static string Directory(CommandArguments arguments)
    {
        var directory = arguments.Required("model");
        return System.IO.Directory.Exists(directory)
            ? directory
            : throw new CommandFailedException($"model directory '{directory}' does not exist");
    }

    /// <summary>The model, its matrices kept as <c>--weights</c> and <c>--weight-memory</c> say (when the verb takes them).</summary>
    public static LanguageModel Load(CommandArguments arguments)
    {
        var choice = arguments.Parsed("weights", WeightChoice.Auto, WeightChoice.Parse);
        return LanguageModel.Load(Directory(arguments), weights: arguments.Parsed("weight-memory", choice, choice.WithMemory));
    }
}
