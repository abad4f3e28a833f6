package io.github.kvpolicy.evaluation.gridvqa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How the testbed is found from a module's working directory, and the two properties that override it. */
class TestbedPathsTest {
    private final String testbed = System.getProperty(TestbedPaths.TESTBED_PROPERTY), home = System.getProperty(TestbedPaths.HOME_PROPERTY);

    @BeforeEach
    void clear() {
        System.clearProperty(TestbedPaths.TESTBED_PROPERTY);
        System.clearProperty(TestbedPaths.HOME_PROPERTY);
    }

    @AfterEach
    void restore() {
        clear();
        if (testbed != null) System.setProperty(TestbedPaths.TESTBED_PROPERTY, testbed);
        if (home != null) System.setProperty(TestbedPaths.HOME_PROPERTY, home);
    }

    @Test
    void foundFromTheModuleDirectoryByLookingUpwards() {
        // surefire runs with evaluation/ as the working directory; the testbed is ../testbed
        Path expected = Path.of("").toAbsolutePath().getParent().resolve("testbed");
        assertEquals(expected, TestbedPaths.testbed());
        assertTrue(Files.isRegularFile(TestbedPaths.model().resolve("config.json")));
        assertTrue(Files.isRegularFile(TestbedPaths.evalSet()));
    }

    @Test
    void theTestbedPropertyWinsOverTheHomeProperty(@TempDir Path dir) {
        System.setProperty(TestbedPaths.HOME_PROPERTY, dir.resolve("repo").toString());
        assertEquals(dir.resolve("repo/testbed/model"), TestbedPaths.model());
        System.setProperty(TestbedPaths.TESTBED_PROPERTY, dir.resolve("elsewhere").toString());
        assertEquals(dir.resolve("elsewhere/data/eval.jsonl"), TestbedPaths.evalSet());
    }

    @Test
    void aMissingModelIsNamedWithThePropertyToSet(@TempDir Path dir) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TestbedPaths.requireModel(dir));
        assertTrue(e.getMessage().contains(dir.toString()) && e.getMessage().contains("-Dkvpolicy.testbed"), e.getMessage());
    }
}
