package io.github.kvpolicy.host.cli;

import java.io.PrintStream;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.function.IntConsumer;

/**
 * The one small command-line flag parser of the {@code main} entry points that must stay free of picocli (the
 * benchmarks and device checks of {@code runtime-onnx}, run from the small class path of {@code scripts/gpu-check.sh},
 * and the conformance {@code validate} parent, worker and second JVM). The {@code cli} module uses picocli instead.
 *
 * <p>A main declares its flags once ({@link #value}, {@link #repeatable}, {@link #flag}, optionally
 * {@link #positionals}), then {@link #parse(String...)} turns its arguments into a {@link Parsed} whose typed getters
 * convert on demand. Accepted forms:
 * <ul>
 *   <li>{@code --name value} and {@code --name=value} for a value flag; the argument after {@code --name} is its value
 *       whatever it looks like (so values may start with {@code -}, e.g. a negative number, or be empty);</li>
 *   <li>{@code --name} alone for a switch ({@code --name=x} is an error);</li>
 *   <li>a value flag given more than once: the last value wins for the single-value getters, {@link Parsed#all} returns
 *       every value in order (what a {@linkplain #repeatable repeatable} flag is for);</li>
 *   <li>positionals (arguments that do not start with {@code -}, and every argument after a lone {@code --}), only
 *       if the main declared them;</li>
 *   <li>{@code --help} or {@code -h}, always known: parsing stops there and {@link Parsed#helpRequested()} is true; the
 *       main prints {@link #help()} and exits 0.</li>
 * </ul>
 *
 * <p>Every user error is a {@link FlagException} (an {@link IllegalArgumentException}) whose message is one line that
 * names the flag and, where there is one, the bad value in quotes, e.g. {@code --batch: not an integer: 'x'};
 * an unknown flag lists the known ones; a value flag at the end of the arguments is "needs a value". Errors in the
 * declaration itself (a name without {@code --}, a duplicate, a getter asking for an undeclared flag or converting a
 * flag without value and without default) are programming errors: {@link IllegalArgumentException} /
 * {@link IllegalStateException}, never a {@code FlagException}.
 *
 * <p>Invariants and ownership: the declaration methods mutate this object and are not thread-safe; declare
 * everything first (typically in a static initializer). Once declared, a {@code Flags} is only read: {@link #parse}
 * and {@link #help} may then be called any number of times, from any thread. Each {@code parse} is single-use: it
 * builds a fresh {@link Parsed} owned by the caller, not thread-safe but immutable after parsing (its getters only
 * read). The argument array is neither kept nor modified.
 */
public final class Flags {
    /** What a declared flag takes. */
    private enum Kind { VALUE, REPEATABLE, SWITCH }

    private record Spec(String name, Kind kind, String label, String defaultValue, String description) {}

    /** A user error on the command line; the message is one line naming the flag and the bad value. */
    public static final class FlagException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public FlagException(String message) {
            super(message);
        }
    }

    private final String usage;
    private final Map<String, Spec> specs = new LinkedHashMap<>();
    private String positionalLabel, positionalDescription;

    /** @param usage the synopsis {@link #help()} starts with, e.g. {@code "Bench [flags]"} */
    public Flags(String usage) {
        this.usage = Objects.requireNonNull(usage, "usage");
    }

    /**
     * Declares a value flag.
     *
     * @param name         {@code --name}
     * @param label        the value's placeholder in the help, e.g. {@code N} or {@code FILE}
     * @param defaultValue the value when the flag is absent (converted by the getters as a given value would be), or null for none
     * @param description  one line for the help
     */
    public Flags value(String name, String label, String defaultValue, String description) {
        return declare(new Spec(name, Kind.VALUE, Objects.requireNonNull(label, "label"), defaultValue, description));
    }

    /** Declares a value flag meant to be given several times; {@link Parsed#all} returns the values in order. No default. */
    public Flags repeatable(String name, String label, String description) {
        return declare(new Spec(name, Kind.REPEATABLE, Objects.requireNonNull(label, "label"), null, description));
    }

    /** Declares a boolean switch: {@link Parsed#isSet} is true when it is given. */
    public Flags flag(String name, String description) {
        return declare(new Spec(name, Kind.SWITCH, null, null, description));
    }

    /** Accepts positional arguments ({@link Parsed#positionals()}); without this call a positional is an error. */
    public Flags positionals(String label, String description) {
        if (positionalLabel != null) throw new IllegalStateException("positionals already declared");
        this.positionalLabel = Objects.requireNonNull(label, "label");
        this.positionalDescription = Objects.requireNonNull(description, "description");
        return this;
    }

    private Flags declare(Spec s) {
        Objects.requireNonNull(s.description(), "description");
        if (!s.name().startsWith("--") || s.name().length() < 3 || s.name().contains("=") || s.name().chars().anyMatch(Character::isWhitespace)) {
            throw new IllegalArgumentException("a flag name is --name without '=' or spaces: '" + s.name() + "'");
        }
        if (s.name().equals("--help")) throw new IllegalArgumentException("--help is built in");
        if (specs.putIfAbsent(s.name(), s) != null) throw new IllegalArgumentException("flag " + s.name() + " declared twice");
        return this;
    }

    /** The declared flag names in declaration order, then {@code --help}. */
    public List<String> names() {
        List<String> n = new ArrayList<>(specs.keySet());
        n.add("--help");
        return List.copyOf(n);
    }

    /**
     * The help text: the usage line, then one line per flag (name, value label, description, default) and
     * {@code --help}; ends with a line break.
     */
    public String help() {
        List<String[]> rows = new ArrayList<>();
        if (positionalLabel != null) rows.add(new String[] {positionalLabel, positionalDescription});
        for (Spec s : specs.values()) {
            String left = s.name() + (s.label() == null ? "" : " " + s.label());
            String right = s.description();
            if (s.defaultValue() != null) right += " (default " + (s.defaultValue().isEmpty() ? "''" : s.defaultValue()) + ")";
            if (s.kind() == Kind.REPEATABLE) right += " (repeatable)";
            rows.add(new String[] {left, right});
        }
        rows.add(new String[] {"--help, -h", "this text"});
        int width = rows.stream().mapToInt(r -> r[0].length()).max().orElse(0) + 2;
        StringBuilder sb = new StringBuilder("usage: ").append(usage).append('\n');
        for (String[] r : rows) sb.append("  ").append(r[0]).append(" ".repeat(width - r[0].length())).append(r[1]).append('\n');
        return sb.toString();
    }

    /**
     * Parses {@code args} against the declaration.
     *
     * @throws FlagException on an unknown flag, a value flag without value, a value given to a switch, or a positional
     *                       argument the main did not declare
     */
    public Parsed parse(String... args) {
        Map<String, List<String>> values = new LinkedHashMap<>();
        Set<String> switches = new LinkedHashSet<>();
        List<String> positionals = new ArrayList<>();
        boolean help = false, onlyPositionals = false;
        for (int i = 0; i < args.length; i++) {
            String a = Objects.requireNonNull(args[i], "argument");
            if (onlyPositionals || !a.startsWith("-")) {
                if (positionalLabel == null) throw new FlagException("unexpected argument '" + a + "'; known flags: " + String.join(" ", names()));
                positionals.add(a);
                continue;
            }
            if (a.equals("--")) {
                onlyPositionals = true;
                continue;
            }
            if (a.equals("--help") || a.equals("-h")) {
                help = true;
                break;
            }
            int eq = a.startsWith("--") ? a.indexOf('=') : -1;
            String name = eq > 0 ? a.substring(0, eq) : a;
            Spec s = specs.get(name);
            if (s == null) throw new FlagException("unknown flag " + name + "; known: " + String.join(" ", names()));
            if (s.kind() == Kind.SWITCH) {
                if (eq > 0) throw new FlagException(name + ": takes no value: '" + a.substring(eq + 1) + "'");
                switches.add(name);
                continue;
            }
            String v;
            if (eq > 0) v = a.substring(eq + 1);
            else if (i + 1 < args.length) v = Objects.requireNonNull(args[++i], "argument");
            else throw new FlagException(name + ": needs a value (" + name + " " + s.label() + ")");
            values.computeIfAbsent(name, k -> new ArrayList<>()).add(v);
        }
        return new Parsed(this, values, switches, positionals, help);
    }

    /**
     * The standard start of a {@code main}: parses {@code args} and converts them with {@code options}. On
     * {@code --help} prints the help to standard output and returns empty (the main then returns normally); on a usage
     * error, from parsing or from {@code options} ({@link IllegalArgumentException}), prints one line
     * {@code program: message} to standard error and exits the JVM with status 2.
     */
    public <T> Optional<T> parseMain(String program, String[] args, Function<Parsed, T> options) {
        return parseMain(program, args, options, System.out, System.err, System::exit);
    }

    /** {@link #parseMain(String, String[], Function)} with its streams and exit injected (tests). */
    <T> Optional<T> parseMain(String program, String[] args, Function<Parsed, T> options, PrintStream out, PrintStream err, IntConsumer exit) {
        try {
            Parsed p = parse(args);
            if (p.helpRequested()) {
                out.print(p.help());
                out.flush();
                return Optional.empty();
            }
            return Optional.of(options.apply(p));
        } catch (IllegalArgumentException e) {
            err.println(program + ": " + e.getMessage());
            err.flush();
            exit.accept(2);
            return Optional.empty();
        }
    }

    private Spec spec(String name) {
        Spec s = specs.get(name);
        if (s == null) throw new IllegalArgumentException("flag " + name + " is not declared");
        return s;
    }

    /**
     * The result of one {@link Flags#parse}: what was given, with typed getters. A getter of a value flag converts the
     * last given value, or the declared default when the flag is absent; a conversion error is a
     * {@link FlagException} naming the flag and the value. Not thread-safe; owned by the caller of {@code parse}.
     */
    public static final class Parsed {
        private final Flags flags;
        private final Map<String, List<String>> values;
        private final Set<String> switches;
        private final List<String> positionals;
        private final boolean help;

        private Parsed(Flags flags, Map<String, List<String>> values, Set<String> switches, List<String> positionals, boolean help) {
            this.flags = flags;
            this.values = values;
            this.switches = switches;
            this.positionals = Collections.unmodifiableList(positionals);
            this.help = help;
        }

        /** True if {@code --help} or {@code -h} was given (parsing stopped there; the main should print {@link Flags#help()}). */
        public boolean helpRequested() {
            return help;
        }

        /** The help text of the declaration this came from. */
        public String help() {
            return flags.help();
        }

        /** The positional arguments, in order (empty unless declared). */
        public List<String> positionals() {
            return positionals;
        }

        /** True if the flag (value flag or switch) was given at least once. */
        public boolean has(String name) {
            flags.spec(name);
            return switches.contains(name) || values.containsKey(name);
        }

        /** True if the switch was given. */
        public boolean isSet(String name) {
            if (flags.spec(name).kind() != Kind.SWITCH) throw new IllegalArgumentException(name + " is not a switch");
            return switches.contains(name);
        }

        /** Every given value of the flag, in order; empty if it was not given (defaults are not included). */
        public List<String> all(String name) {
            if (flags.spec(name).kind() == Kind.SWITCH) throw new IllegalArgumentException(name + " is a switch");
            return List.copyOf(values.getOrDefault(name, List.of()));
        }

        /** The last given value, else the default; null if neither. */
        public String string(String name) {
            Spec s = flags.spec(name);
            if (s.kind() == Kind.SWITCH) throw new IllegalArgumentException(name + " is a switch");
            List<String> v = values.get(name);
            return v == null ? s.defaultValue() : v.getLast();
        }

        private String required(String name) {
            String v = string(name);
            if (v == null) throw new IllegalStateException(name + " has no value and no default: check has() first");
            return v;
        }

        /** An integer (surrounding blanks ignored). */
        public int intValue(String name) {
            String v = required(name);
            try {
                return Integer.parseInt(v.trim());
            } catch (NumberFormatException e) {
                throw new FlagException(name + ": not an integer: '" + v + "'");
            }
        }

        /** An integer of at least {@code min}. */
        public int intAtLeast(String name, int min) {
            int n = intValue(name);
            if (n < min) throw new FlagException(name + ": must be at least " + min + ": '" + string(name) + "'");
            return n;
        }

        /** A long integer (surrounding blanks ignored). */
        public long longValue(String name) {
            String v = required(name);
            try {
                return Long.parseLong(v.trim());
            } catch (NumberFormatException e) {
                throw new FlagException(name + ": not an integer: '" + v + "'");
            }
        }

        /** A finite decimal number (surrounding blanks ignored). */
        public double doubleValue(String name) {
            String v = required(name);
            double d = parseDouble(v);
            if (Double.isNaN(d)) throw new FlagException(name + ": not a number: '" + v + "'");
            return d;
        }

        private static double parseDouble(String v) {
            try {
                double d = Double.parseDouble(v.trim());
                return Double.isFinite(d) ? d : Double.NaN;
            } catch (NumberFormatException e) {
                return Double.NaN;
            }
        }

        /** A path, or null if the flag is absent and has no default. */
        public Path path(String name) {
            String v = string(name);
            if (v == null) return null;
            try {
                return Path.of(v);
            } catch (InvalidPathException e) {
                throw new FlagException(name + ": not a path: '" + v + "' (" + e.getReason() + ")");
            }
        }

        /**
         * One of the constants of {@code type}, matched by name ignoring case and surrounding blanks; the error lists
         * the choices in lower case.
         */
        public <E extends Enum<E>> E choice(String name, Class<E> type) {
            String v = required(name);
            for (E e : type.getEnumConstants()) if (e.name().equalsIgnoreCase(v.trim())) return e;
            String known = String.join(", ", Arrays.stream(type.getEnumConstants()).map(e -> e.name().toLowerCase(Locale.ROOT)).toList());
            throw new FlagException(name + ": not one of " + known + ": '" + v + "'");
        }

        /**
         * The value converted by {@code parser}, e.g. {@code Device::parse}; an {@link IllegalArgumentException} of the
         * parser becomes a {@link FlagException} "{@code --name: <its message>}" (its message should quote the value).
         * Null if the flag is absent and has no default.
         */
        public <T> T as(String name, Function<String, T> parser) {
            String v = string(name);
            if (v == null) return null;
            try {
                return parser.apply(v);
            } catch (FlagException e) {
                throw e;
            } catch (IllegalArgumentException e) {
                throw new FlagException(name + ": " + oneLine(e.getMessage(), v));
            }
        }

        private static String oneLine(String message, String value) {
            if (message == null || message.isBlank()) return "invalid value: '" + value + "'";
            return message.strip().replaceAll("\\s*\\R\\s*", " ");
        }

        /** A comma-separated list: items trimmed, blank items dropped (so an empty value is an empty list). */
        public List<String> list(String name) {
            String v = string(name);
            if (v == null) return List.of();
            return Arrays.stream(v.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
        }

        /** A comma-separated list of integers, as {@link #list}. */
        public List<Integer> intList(String name) {
            try {
                return list(name).stream().map(Integer::valueOf).toList();
            } catch (NumberFormatException e) {
                throw new FlagException(name + ": not a comma-separated list of integers: '" + string(name) + "'");
            }
        }

        /** A comma-separated list of finite decimal numbers, as {@link #list}. */
        public List<Double> doubleList(String name) {
            List<Double> out = new ArrayList<>();
            for (String s : list(name)) {
                double d = parseDouble(s);
                if (Double.isNaN(d)) throw new FlagException(name + ": not a comma-separated list of numbers: '" + string(name) + "'");
                out.add(d);
            }
            return List.copyOf(out);
        }
    }
}
