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

    /// <summary>The model, its matrices kept as <c>--weights</c> says (when the verb takes it).</summary>
    public static LanguageModel Load(CommandArguments arguments) =>
        LanguageModel.Load(Directory(arguments), weights: arguments.Parsed("weights", WeightChoice.Auto, WeightChoice.Parse));
}
