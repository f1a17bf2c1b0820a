using System.Text;

namespace ChunkKv.Tests.Quality;

/// <summary>
/// A generated corpus with known answers: made-up countries, one document each, one paragraph per
/// fact (capital, export, founding, ruler, river) padded with sentences every document shares.
/// Each question has exactly one relevant chunk: the one holding its answer.
/// </summary>
internal static class FactCorpus
{
    public sealed record Question(string Text, string Answer);

    private static readonly string[] Syllables = ["zor", "vel", "qua", "mir", "tas", "lon", "bre", "dun", "kai", "ost", "pel", "rha", "sim", "tor", "ul", "wen"];
    private static readonly string[] Goods = ["copper", "saffron", "timber", "wool", "salt", "amber", "tea", "glass", "silk", "iron", "cotton", "marble"];
    private static readonly string[] Filler =
    [
        "Travellers often remark on the mild weather and the friendly markets.",
        "Many visitors arrive by ferry during the summer months.",
        "The national museum holds maps drawn by early surveyors.",
        "Local schools teach three languages from an early age.",
    ];

    public static (List<(string Id, string Text)> Documents, List<Question> Questions) Build(int countries, int seed)
    {
        var random = new Random(seed);
        string Name(int parts) => string.Concat(Enumerable.Range(0, parts).Select(_ => Syllables[random.Next(Syllables.Length)]));
        string Capitalised(string s) => char.ToUpperInvariant(s[0]) + s[1..];
        var documents = new List<(string, string)>();
        var questions = new List<Question>();
        var used = new HashSet<string>();
        for (var c = 0; c < countries; c++)
        {
            string country;
            do
            {
                country = Capitalised(Name(2)) + "ia";
            }
            while (!used.Add(country));
            var city = Capitalised(Name(2)) + "ton";
            var good = Goods[random.Next(Goods.Length)];
            var year = (1200 + random.Next(700)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var ruler = Capitalised(Name(2)) + " " + Capitalised(Name(1)) + "ek";
            var river = Capitalised(Name(2)) + "a";
            string[] facts =
            [
                $"The capital of {country} is {city}, a walled city on the eastern coast.",
                $"{country} earns most of its income by exporting {good} ({city} traders call it {good}-{c}).",
                $"{country} was founded in {year} after a long war between the northern clans.",
                $"{country} is governed by {ruler}, who leads the council of elders.",
                $"The longest river in {country} is the {river}, which floods every spring.",
            ];
            var text = new StringBuilder($"# {country}\n\n");
            foreach (var fact in facts)
            {
                text.Append(fact).Append(' ').Append(Filler[random.Next(Filler.Length)]).Append(' ')
                    .Append(Filler[random.Next(Filler.Length)]).Append("\n\n");
            }
            documents.Add(($"country-{c}", text.ToString()));
            questions.Add(new Question($"What is the capital city of {country}?", city));
            questions.Add(new Question($"Which goods does {country} export?", $"{good}-{c}"));
            questions.Add(new Question($"In which year was {country} founded?", year));
            questions.Add(new Question($"Who governs {country}?", ruler));
            questions.Add(new Question($"What is the longest river of {country}?", river));
        }
        return (documents, questions);
    }
}
