namespace ChunkKv.Evaluation.Metrics;

/// <summary>
/// Martin Porter's 1980 suffix-stripping algorithm, as Rouge-L's stemming uses it: "connections",
/// "connected" and "connecting" all become "connect". Lower-case ASCII words in, stems out.
/// </summary>
public static class PorterStemmer
{
    public static string Stem(string word)
    {
        if (word.Length <= 2)
        {
            return word;
        }
        var w = new Word(word);
        w.Step1a();
        w.Step1b();
        w.Step1c();
        w.Step2();
        w.Step3();
        w.Step4();
        w.Step5();
        return w.Text;
    }

    private sealed class Word(string text)
    {
        public string Text { get; private set; } = text;

        private bool IsConsonant(int i) => Text[i] switch
        {
            'a' or 'e' or 'i' or 'o' or 'u' => false,
            'y' => i == 0 || !IsConsonant(i - 1),
            _ => true,
        };

        /// <summary>m: the number of VC sequences in the first <paramref name="length"/> letters ([C](VC)^m[V]).</summary>
        private int Measure(int length)
        {
            var m = 0;
            var i = 0;
            while (i < length && IsConsonant(i))
            {
                i++;
            }
            while (i < length)
            {
                while (i < length && !IsConsonant(i))
                {
                    i++;
                }
                if (i >= length)
                {
                    break;
                }
                while (i < length && IsConsonant(i))
                {
                    i++;
                }
                m++;
            }
            return m;
        }

        private bool HasVowel(int length) => Enumerable.Range(0, length).Any(i => !IsConsonant(i));

        private bool EndsWithDoubleConsonant(int length) =>
            length >= 2 && Text[length - 1] == Text[length - 2] && IsConsonant(length - 1);

        /// <summary>*o: the stem ends consonant-vowel-consonant, the last not w, x or y.</summary>
        private bool EndsCvc(int length) =>
            length >= 3 && IsConsonant(length - 3) && !IsConsonant(length - 2) && IsConsonant(length - 1)
            && Text[length - 1] is not ('w' or 'x' or 'y');

        private bool Ends(string suffix) => Text.EndsWith(suffix, StringComparison.Ordinal);

        /// <summary>Replaces <paramref name="suffix"/> with <paramref name="by"/> when the stem before it has m greater than <paramref name="minimum"/>.</summary>
        private bool Replace(string suffix, string by, int minimum)
        {
            if (!Ends(suffix))
            {
                return false;
            }
            var stem = Text.Length - suffix.Length;
            if (Measure(stem) > minimum)
            {
                Text = Text[..stem] + by;
            }
            return true; // the suffix matched: no other rule of the step applies
        }

        public void Step1a()
        {
            if (Ends("sses"))
            {
                Text = Text[..^2];
            }
            else if (Ends("ies"))
            {
                Text = Text[..^2];
            }
            else if (!Ends("ss") && Ends("s"))
            {
                Text = Text[..^1];
            }
        }

        public void Step1b()
        {
            if (Ends("eed"))
            {
                if (Measure(Text.Length - 3) > 0)
                {
                    Text = Text[..^1];
                }
                return;
            }
            string? suffix = Ends("ed") ? "ed" : Ends("ing") ? "ing" : null;
            if (suffix is null || !HasVowel(Text.Length - suffix.Length))
            {
                return;
            }
            Text = Text[..^suffix.Length];
            if (Ends("at") || Ends("bl") || Ends("iz"))
            {
                Text += "e";
            }
            else if (EndsWithDoubleConsonant(Text.Length) && Text[^1] is not ('l' or 's' or 'z'))
            {
                Text = Text[..^1];
            }
            else if (Measure(Text.Length) == 1 && EndsCvc(Text.Length))
            {
                Text += "e";
            }
        }

        public void Step1c()
        {
            if (Ends("y") && HasVowel(Text.Length - 1))
            {
                Text = Text[..^1] + "i";
            }
        }

        private static readonly (string Suffix, string By)[] Step2Rules =
        [
            ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("abli", "able"),
            ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"), ("ator", "ate"),
            ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"),
        ];

        private static readonly (string Suffix, string By)[] Step3Rules =
        [
            ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", ""),
        ];

        private static readonly string[] Step4Suffixes =
        [
            "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize",
        ];

        public void Step2()
        {
            // The longest matching suffix decides (the rules are tried longest first within each ending).
            foreach (var (suffix, by) in Step2Rules.OrderByDescending(r => r.Suffix.Length))
            {
                if (Replace(suffix, by, 0))
                {
                    return;
                }
            }
        }

        public void Step3()
        {
            foreach (var (suffix, by) in Step3Rules.OrderByDescending(r => r.Suffix.Length))
            {
                if (Replace(suffix, by, 0))
                {
                    return;
                }
            }
        }

        public void Step4()
        {
            foreach (var suffix in Step4Suffixes.OrderByDescending(s => s.Length))
            {
                if (!Ends(suffix))
                {
                    continue;
                }
                var stem = Text.Length - suffix.Length;
                var allowed = suffix != "ion" || stem > 0 && Text[stem - 1] is 's' or 't';
                if (allowed && Measure(stem) > 1)
                {
                    Text = Text[..stem];
                }
                return;
            }
        }

        public void Step5()
        {
            if (Ends("e"))
            {
                var m = Measure(Text.Length - 1);
                if (m > 1 || m == 1 && !EndsCvc(Text.Length - 1))
                {
                    Text = Text[..^1];
                }
            }
            if (Measure(Text.Length) > 1 && EndsWithDoubleConsonant(Text.Length) && Text[^1] == 'l')
            {
                Text = Text[..^1];
            }
        }
    }
}
