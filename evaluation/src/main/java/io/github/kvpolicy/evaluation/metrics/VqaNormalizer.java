package io.github.kvpolicy.evaluation.metrics;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The answer normalisation of the official VQA evaluation ({@code vqaEval.py}: {@code processPunctuation} then
 * {@code processDigitArticle}), reimplemented from its description:
 * <ol>
 *   <li>new lines and tabs become spaces; the text is trimmed;</li>
 *   <li>punctuation {@code ; / [ ] " { } ( ) = + \ _ - > < @ ` , ? !}: each mark is deleted if the original text has it
 *       next to a space or contains a digit-comma-digit group anywhere ({@code 1,000} → {@code 1000}), else replaced by
 *       a space ({@code left-hand} → {@code left hand}); the apostrophe is kept;</li>
 *   <li>periods not followed by a digit are deleted ({@code 2.5} stays), at most 32 of them (the script passes
 *       {@code re.UNICODE} where {@code re.sub} expects its count);</li>
 *   <li>lower-case, split on white space; number words {@code none zero one … ten} become digits; the articles
 *       {@code a an the} are dropped; apostrophe-less contractions get their apostrophe ({@code dont} →
 *       {@code don't}); words are joined by single spaces.</li>
 * </ol>
 * Pure function; thread-safe.
 */
public final class VqaNormalizer {
    private static final String PUNCTUATION = ";/[]\"{}()=+\\_-><@`,?!";
    private static final Pattern COMMA_BETWEEN_DIGITS = Pattern.compile("(\\d)(,)(\\d)");
    private static final Pattern PERIOD = Pattern.compile("\\.(?!\\d)");
    private static final int PERIOD_LIMIT = 32;
    private static final List<String> ARTICLES = List.of("a", "an", "the");
    private static final Map<String, String> NUMBERS = Map.ofEntries(Map.entry("none", "0"), Map.entry("zero", "0"), Map.entry("one", "1"),
            Map.entry("two", "2"), Map.entry("three", "3"), Map.entry("four", "4"), Map.entry("five", "5"), Map.entry("six", "6"),
            Map.entry("seven", "7"), Map.entry("eight", "8"), Map.entry("nine", "9"), Map.entry("ten", "10"));
    /**
     * The script's contraction table (apostrophe-less form → written form). Its four capitalised keys ({@code Im},
     * {@code Ive}, {@code Id've}, {@code I'dve}) never match lower-cased text there, so they are left out here.
     */
    private static final Map<String, String> CONTRACTIONS = contractions(
            "aint ain't", "arent aren't", "cant can't", "couldve could've", "couldnt couldn't", "couldn'tve couldn't've",
            "couldnt've couldn't've", "didnt didn't", "doesnt doesn't", "dont don't", "hadnt hadn't", "hadnt've hadn't've",
            "hadn'tve hadn't've", "hasnt hasn't", "havent haven't", "hed he'd", "hed've he'd've", "he'dve he'd've", "hes he's",
            "howd how'd", "howll how'll", "hows how's", "isnt isn't", "itd it'd", "itd've it'd've", "it'dve it'd've", "itll it'll",
            "let's let's", "maam ma'am", "mightnt mightn't", "mightnt've mightn't've", "mightn'tve mightn't've", "mightve might've",
            "mustnt mustn't", "mustve must've", "neednt needn't", "notve not've", "oclock o'clock", "oughtnt oughtn't",
            "ow's'at 'ow's'at", "'ows'at 'ow's'at", "'ow'sat 'ow's'at", "shant shan't", "shed've she'd've", "she'dve she'd've",
            "she's she's", "shouldve should've", "shouldnt shouldn't", "shouldnt've shouldn't've", "shouldn'tve shouldn't've",
            "somebody'd somebodyd", "somebodyd've somebody'd've", "somebody'dve somebody'd've", "somebodyll somebody'll",
            "somebodys somebody's", "someoned someone'd", "someoned've someone'd've", "someone'dve someone'd've",
            "someonell someone'll", "someones someone's", "somethingd something'd", "somethingd've something'd've",
            "something'dve something'd've", "somethingll something'll", "thats that's", "thered there'd", "thered've there'd've",
            "there'dve there'd've", "therere there're", "theres there's", "theyd they'd", "theyd've they'd've", "they'dve they'd've",
            "theyll they'll", "theyre they're", "theyve they've", "twas 'twas", "wasnt wasn't", "wed've we'd've", "we'dve we'd've",
            "weve we've", "werent weren't", "whatll what'll", "whatre what're", "whats what's", "whatve what've", "whens when's",
            "whered where'd", "wheres where's", "whereve where've", "whod who'd", "whod've who'd've", "who'dve who'd've",
            "wholl who'll", "whos who's", "whove who've", "whyll why'll", "whyre why're", "whys why's", "wont won't",
            "wouldve would've", "wouldnt wouldn't", "wouldnt've wouldn't've", "wouldn'tve wouldn't've", "yall y'all",
            "yall'll y'all'll", "y'allll y'all'll", "yall'd've y'all'd've", "y'alld've y'all'd've", "y'all'dve y'all'd've",
            "youd you'd", "youd've you'd've", "you'dve you'd've", "youll you'll", "youre you're", "youve you've");

    private VqaNormalizer() {}

    /** {@code answer} normalised as the class comment describes; {@code null} counts as empty. */
    public static String normalise(String answer) {
        String s = answer == null ? "" : answer.replace('\n', ' ').replace('\t', ' ').trim();
        return digitsAndArticles(punctuation(s));
    }

    static String punctuation(String in) {
        boolean commaGroup = COMMA_BETWEEN_DIGITS.matcher(in).find();
        String out = in;
        for (int i = 0; i < PUNCTUATION.length(); i++) {
            String p = String.valueOf(PUNCTUATION.charAt(i));
            boolean delete = in.contains(p + " ") || in.contains(" " + p) || commaGroup;
            out = out.replace(p, delete ? "" : " ");
        }
        Matcher m = PERIOD.matcher(out);
        StringBuilder sb = new StringBuilder();
        int n = 0;
        while (n < PERIOD_LIMIT && m.find()) {
            m.appendReplacement(sb, "");
            n++;
        }
        m.appendTail(sb);
        return sb.toString();
    }

    static String digitsAndArticles(String in) {
        List<String> words = new ArrayList<>();
        for (String w : in.toLowerCase(Locale.ROOT).trim().split("\\s+")) {
            if (w.isEmpty()) continue;
            w = NUMBERS.getOrDefault(w, w);
            if (!ARTICLES.contains(w)) words.add(CONTRACTIONS.getOrDefault(w, w));
        }
        return String.join(" ", words);
    }

    private static Map<String, String> contractions(String... pairs) {
        java.util.HashMap<String, String> m = new java.util.HashMap<>();
        for (String p : pairs) {
            String[] kv = p.split(" ");
            m.put(kv[0], kv[1]);
        }
        return Map.copyOf(m);
    }
}
