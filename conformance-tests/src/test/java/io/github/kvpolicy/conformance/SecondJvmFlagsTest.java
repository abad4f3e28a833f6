package io.github.kvpolicy.conformance;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The flags of {@link SecondJvm#main}: the defaults it had before {@code host.cli.Flags}, and an empty scenario list. */
class SecondJvmFlagsTest {
    @Test
    void defaultsAndForms() {
        var p = SecondJvm.FLAGS.parse("--provider", "a.B", "--scenarios", "", "--option", "k=v=w", "--option=x=1");
        assertEquals("-", p.string("--jar"));
        assertEquals(ConformanceSettings.DEFAULT_SEED, p.longValue("--seed"));
        assertEquals(List.of(), p.intList("--scenarios"));
        assertEquals(List.of("k=v=w", "x=1"), p.all("--option"));
        assertEquals(List.of(3, 5), SecondJvm.FLAGS.parse("--scenarios", "3, 5,").intList("--scenarios"));
    }
}
