package io.github.kvpolicy.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.IllegalFormatException;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Every help text of every command is a valid format string: picocli passes descriptions through
 * {@link String#format}, and a bare {@code %} (as in "10% and 1%") makes {@code --help} print "[picocli WARN]" lines
 * instead of the text. Write {@code %%} for a percent sign.
 */
class HelpTextTest {

    @Test
    void everyDescriptionFormatsWithoutWarnings() {
        List<String> bad = new ArrayList<>();
        walk(new CommandLine(Main.class), bad);
        assertTrue(bad.isEmpty(), "descriptions that are not valid format strings (use %% for a percent sign):\n"
                + String.join("\n", bad));
    }

    /** Checks the raw annotation texts (picocli's own accessors return them already interpolated). */
    private static void walk(CommandLine cl, List<String> bad) {
        CommandSpec spec = cl.getCommandSpec();
        List<Object> owners = new ArrayList<>();
        owners.add(spec.userObject());
        for (CommandSpec mixin : spec.mixins().values()) owners.add(mixin.userObject());
        for (Object owner : owners) {
            if (owner == null) continue;
            for (Class<?> c = owner.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
                Command command = c.getAnnotation(Command.class);
                if (command != null) for (String line : command.description()) check(spec.qualifiedName(), line, bad);
                for (Field f : c.getDeclaredFields()) {
                    Option o = f.getAnnotation(Option.class);
                    if (o != null) for (String line : o.description()) check(spec.qualifiedName() + " " + f.getName(), line, bad);
                    Parameters p = f.getAnnotation(Parameters.class);
                    if (p != null) for (String line : p.description()) check(spec.qualifiedName() + " " + f.getName(), line, bad);
                }
            }
        }
        for (CommandLine sub : cl.getSubcommands().values()) walk(sub, bad);
    }

    private static void check(String where, String text, List<String> bad) {
        try {
            String.format(Locale.ROOT, text);
        } catch (IllegalFormatException e) {
            bad.add(where + ": " + text + " (" + e + ")");
        }
    }
}
