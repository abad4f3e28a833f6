package io.github.kvpolicy.host.cli;

import io.github.kvpolicy.host.cli.Flags.FlagException;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@link Flags}: every accepted form, every user error (one line naming the flag and the value), the help text. */
class FlagsTest {
    enum Color { RED, DARK_BLUE }

    static Flags flags() {
        return new Flags("tool [flags] FILE...")
                .value("--count", "N", "3", "how many")
                .value("--seed", "N", null, "the seed")
                .value("--ratio", "R", "0.5", "a share")
                .value("--out", "FILE", null, "where to write")
                .value("--color", "C", "red", "a color")
                .value("--sizes", "N,..", "1,2", "some sizes")
                .value("--ratios", "R,..", null, "some shares")
                .value("--names", "A,..", "", "some names")
                .repeatable("--option", "K=V", "an option")
                .flag("--verbose", "talk more");
    }

    static Flags withFiles() {
        return flags().positionals("FILE...", "the inputs");
    }

    static String error(Flags f, String... args) {
        return assertThrows(FlagException.class, () -> f.parse(args)).getMessage();
    }

    static void assertOneLine(String message) {
        assertFalse(message.contains("\n") || message.contains("\r"), message);
    }

    @Test
    void defaultsApplyWhenNothingIsGiven() {
        Flags.Parsed p = flags().parse();
        assertEquals(3, p.intValue("--count"));
        assertEquals(0.5, p.doubleValue("--ratio"));
        assertEquals(Color.RED, p.choice("--color", Color.class));
        assertEquals(List.of(1, 2), p.intList("--sizes"));
        assertEquals(List.of(), p.list("--names"));
        assertEquals(List.of(), p.doubleList("--ratios"));
        assertNull(p.path("--out"));
        assertNull(p.string("--seed"));
        assertNull(p.as("--seed", Long::valueOf));
        assertFalse(p.has("--count"));
        assertFalse(p.isSet("--verbose"));
        assertFalse(p.helpRequested());
        assertEquals(List.of(), p.all("--option"));
        assertEquals(List.of(), p.positionals());
    }

    @Test
    void spaceAndEqualsFormsAreAccepted() {
        Flags.Parsed p = flags().parse("--count", "7", "--seed=-5", "--out=a=b.txt", "--ratio", " 0.25 ", "--color=dark_blue", "--verbose");
        assertEquals(7, p.intValue("--count"));
        assertEquals(-5L, p.longValue("--seed"));
        assertEquals(Path.of("a=b.txt"), p.path("--out"));
        assertEquals(0.25, p.doubleValue("--ratio"));
        assertEquals(Color.DARK_BLUE, p.choice("--color", Color.class));
        assertTrue(p.isSet("--verbose"));
        assertTrue(p.has("--count") && p.has("--verbose"));
    }

    @Test
    void theNextArgumentIsTheValueWhateverItLooksLike() {
        Flags.Parsed p = flags().parse("--seed", "-12", "--out", "--verbose", "--names", "");
        assertEquals(-12L, p.longValue("--seed"));
        assertEquals("--verbose", p.string("--out"));
        assertFalse(p.isSet("--verbose"));
        assertEquals("", p.string("--names"));
        assertEquals(List.of(), p.list("--names"));
        assertEquals("", flags().parse("--out=").string("--out"));
    }

    @Test
    void theLastValueWinsAndAllKeepsEveryValueInOrder() {
        Flags.Parsed p = flags().parse("--count", "1", "--option", "a=1", "--count=2", "--option=b=2", "--option", "a=3");
        assertEquals(2, p.intValue("--count"));
        assertEquals(List.of("1", "2"), p.all("--count"));
        assertEquals(List.of("a=1", "b=2", "a=3"), p.all("--option"));
        assertEquals("a=3", p.string("--option"));
    }

    @Test
    void commaListsAreTrimmedAndDropBlanks() {
        Flags.Parsed p = flags().parse("--sizes", " 4, 5 ,,6", "--ratios", "0.1,0.25", "--names", "x, y,");
        assertEquals(List.of(4, 5, 6), p.intList("--sizes"));
        assertEquals(List.of(0.1, 0.25), p.doubleList("--ratios"));
        assertEquals(List.of("x", "y"), p.list("--names"));
    }

    @Test
    void positionalsWhereDeclaredAndAfterDoubleDash() {
        Flags.Parsed p = withFiles().parse("a.jar", "--count", "4", "b.jar", "--", "--c.jar", "-d");
        assertEquals(List.of("a.jar", "b.jar", "--c.jar", "-d"), p.positionals());
        assertEquals(4, p.intValue("--count"));
    }

    @Test
    void helpStopsParsingAndListsEveryFlag() {
        Flags.Parsed p = flags().parse("--count", "x", "--help", "--bogus");
        assertTrue(p.helpRequested());
        assertTrue(flags().parse("-h").helpRequested());
        String help = withFiles().help();
        assertTrue(help.startsWith("usage: tool [flags] FILE...\n"), help);
        // one column of names: the longest left part ("--ratios R,..") plus two spaces
        for (String line : new String[] {"FILE...        the inputs", "--count N      how many (default 3)", "--seed N       the seed",
                "--names A,..   some names (default '')", "--option K=V   an option (repeatable)", "--verbose      talk more"}) {
            assertTrue(help.contains("\n  " + line + "\n"), line + " in\n" + help);
        }
        assertTrue(help.endsWith("\n  --help, -h     this text\n"), help);
        assertEquals(flags().help(), p.help());
        assertFalse(flags().help().contains("FILE...  "), flags().help());
    }

    @Test
    void unknownFlagsListTheKnownOnes() {
        String known = "; known: --count --seed --ratio --out --color --sizes --ratios --names --option --verbose --help";
        assertEquals("unknown flag --bogus" + known, error(flags(), "--bogus", "1"));
        assertEquals("unknown flag --bogus" + known, error(flags(), "--bogus=1"));
        assertEquals("unknown flag -x" + known, error(flags(), "-x"));
        assertEquals("unknown flag -" + known, error(flags(), "-"));
        assertEquals(List.of("--count", "--seed", "--ratio", "--out", "--color", "--sizes", "--ratios", "--names", "--option", "--verbose", "--help"),
                flags().names());
    }

    @Test
    void positionalsAreAnErrorUnlessDeclared() {
        assertEquals("unexpected argument 'a.jar'; known flags: --count --seed --ratio --out --color --sizes --ratios --names --option --verbose --help",
                error(flags(), "a.jar"));
        assertTrue(error(flags(), "--", "x").startsWith("unexpected argument 'x'"));
    }

    @Test
    void aMissingValueIsAnError() {
        assertEquals("--out: needs a value (--out FILE)", error(flags(), "--out"));
        assertEquals("--option: needs a value (--option K=V)", error(flags(), "--verbose", "--option"));
    }

    @Test
    void aSwitchTakesNoValue() {
        assertEquals("--verbose: takes no value: 'yes'", error(flags(), "--verbose=yes"));
    }

    @Test
    void conversionErrorsNameTheFlagAndTheValue() {
        assertEquals("--count: not an integer: 'x'", assertThrows(FlagException.class, () -> flags().parse("--count", "x").intValue("--count")).getMessage());
        assertEquals("--count: not an integer: '3000000000'",
                assertThrows(FlagException.class, () -> flags().parse("--count", "3000000000").intValue("--count")).getMessage());
        assertEquals("--count: must be at least 5: '3'", assertThrows(FlagException.class, () -> flags().parse("--count", "3").intAtLeast("--count", 5)).getMessage());
        assertEquals(5, flags().parse("--count", "5").intAtLeast("--count", 5));
        assertEquals("--seed: not an integer: '1.5'", assertThrows(FlagException.class, () -> flags().parse("--seed", "1.5").longValue("--seed")).getMessage());
        assertEquals("--ratio: not a number: 'half'", assertThrows(FlagException.class, () -> flags().parse("--ratio", "half").doubleValue("--ratio")).getMessage());
        assertEquals("--ratio: not a number: 'NaN'", assertThrows(FlagException.class, () -> flags().parse("--ratio", "NaN").doubleValue("--ratio")).getMessage());
        assertEquals("--color: not one of red, dark_blue: 'green'",
                assertThrows(FlagException.class, () -> flags().parse("--color", "green").choice("--color", Color.class)).getMessage());
        assertEquals("--sizes: not a comma-separated list of integers: '1,x'",
                assertThrows(FlagException.class, () -> flags().parse("--sizes", "1,x").intList("--sizes")).getMessage());
        assertEquals("--ratios: not a comma-separated list of numbers: '0.1,Infinity'",
                assertThrows(FlagException.class, () -> flags().parse("--ratios", "0.1,Infinity").doubleList("--ratios")).getMessage());
        assertEquals("--out: not a path: 'a\0b' (Nul character not allowed)",
                assertThrows(FlagException.class, () -> flags().parse("--out", "a\0b").path("--out")).getMessage());
        String m = assertThrows(FlagException.class, () -> flags().parse("--seed", "x").as("--seed", v -> {
            throw new IllegalArgumentException("bad seed 'x':\n  use digits");
        })).getMessage();
        assertEquals("--seed: bad seed 'x': use digits", m);
        assertOneLine(m);
        assertEquals("--seed: invalid value: 'x'", assertThrows(FlagException.class, () -> flags().parse("--seed", "x").as("--seed", v -> {
            throw new IllegalArgumentException();
        })).getMessage());
        assertEquals(Long.valueOf(42), flags().parse("--seed", "42").<Long>as("--seed", Long::valueOf));
    }

    @Test
    void aDefaultIsConvertedLikeAGivenValue() {
        Flags f = new Flags("t").value("--n", "N", "oops", "broken default");
        assertEquals("--n: not an integer: 'oops'", assertThrows(FlagException.class, () -> f.parse().intValue("--n")).getMessage());
    }

    @Test
    void programmingErrorsAreNotFlagExceptions() {
        Flags.Parsed p = flags().parse();
        assertThrows(IllegalStateException.class, () -> p.intValue("--seed"));
        assertFalse(assertThrows(IllegalArgumentException.class, () -> p.intValue("--undeclared")) instanceof FlagException);
        assertThrows(IllegalArgumentException.class, () -> p.isSet("--count"));
        assertThrows(IllegalArgumentException.class, () -> p.string("--verbose"));
        assertThrows(IllegalArgumentException.class, () -> p.all("--verbose"));
        assertThrows(IllegalArgumentException.class, () -> new Flags("t").flag("-v", "x"));
        assertThrows(IllegalArgumentException.class, () -> new Flags("t").flag("--a=b", "x"));
        assertThrows(IllegalArgumentException.class, () -> new Flags("t").flag("--help", "x"));
        assertThrows(IllegalArgumentException.class, () -> new Flags("t").flag("--a", "x").value("--a", "N", null, "y"));
        assertThrows(IllegalStateException.class, () -> new Flags("t").positionals("A", "a").positionals("B", "b"));
    }

    @Test
    void everyUserErrorIsOneLine() {
        for (String[] args : new String[][] {{"--bogus"}, {"x"}, {"--out"}, {"--verbose=1"}}) assertOneLine(error(flags(), args));
    }

    @Test
    void theArgumentArrayIsNotModifiedAndResultsAreIndependent() {
        Flags f = flags();
        String[] args = {"--count", "9"};
        Flags.Parsed a = f.parse(args);
        args[1] = "1";
        Flags.Parsed b = f.parse("--count", "2");
        assertEquals(9, a.intValue("--count"));
        assertEquals(2, b.intValue("--count"));
        assertArrayEquals(new String[] {"--count", "1"}, args);
    }

    @Test
    void parseMainPrintsHelpExitsTwoOnAUsageErrorAndOtherwiseConverts() {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(), err = new java.io.ByteArrayOutputStream();
        java.io.PrintStream o = new java.io.PrintStream(out, true), e = new java.io.PrintStream(err, true);
        List<Integer> exits = new java.util.ArrayList<>();

        assertEquals(java.util.Optional.of(7), flags().parseMain("tool", new String[] {"--count", "7"}, p -> p.intValue("--count"), o, e, exits::add));
        assertTrue(exits.isEmpty() && out.size() == 0 && err.size() == 0);

        assertTrue(flags().parseMain("tool", new String[] {"--help"}, p -> p.intValue("--count"), o, e, exits::add).isEmpty());
        assertTrue(out.toString().contains("--count N"), out.toString());
        assertTrue(exits.isEmpty(), "help is not an error");

        assertTrue(flags().parseMain("tool", new String[] {"--count", "x"}, p -> p.intValue("--count"), o, e, exits::add).isEmpty());
        assertEquals(List.of(2), exits);
        assertEquals("tool: --count: not an integer: 'x'", err.toString().strip());
    }
}
