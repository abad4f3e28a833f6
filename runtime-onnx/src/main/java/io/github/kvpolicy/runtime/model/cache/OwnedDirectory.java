package io.github.kvpolicy.runtime.model.cache;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Directories that kvpolicy creates and marks as its own, and the only places where it writes or deletes generated
 * files. The rules, enforced here and nowhere else:
 * <ul>
 *   <li>A directory is <em>owned</em> when it holds a regular file named {@link #MARKER} (not a symbolic link) that
 *       kvpolicy wrote when it created the directory. kvpolicy deletes a file or directory only inside an owned
 *       directory, only files it wrote there, and never follows a symbolic link while doing so.</li>
 *   <li>An existing directory without the marker is <em>foreign</em>: {@link #claim} refuses it, naming the path.</li>
 *   <li>Directories are created one component at a time; a component that is a symbolic link, not a directory, or
 *       (for private roots) owned by another user or accessible to others is refused, so a path planted in a shared
 *       directory (e.g. {@code /tmp}) cannot redirect kvpolicy's writes.</li>
 *   <li>Results are published by an atomic rename of a fully written temporary directory; so is every owned directory
 *       itself (staged with its marker as a hidden sibling {@code .<name>.kvpolicy-new-*}), so no thread or process
 *       ever sees one of kvpolicy's directories without its marker.</li>
 * </ul>
 * Stateless; thread-safe.
 */
public final class OwnedDirectory {
    /** The marker file of an owned directory. */
    public static final String MARKER = "KVPOLICY-OWNED";
    private static final boolean POSIX = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");

    private OwnedDirectory() {}

    /**
     * Returns {@code dir}, creating it (and its missing parents) and marking it as owned when it does not exist.
     *
     * @param privateToUser also require (and create) permissions {@code rwx------} and ownership by the current user
     * @throws IllegalStateException if {@code dir} exists but is foreign, a symbolic link, or (private) shared/owned by
     *                               someone else — the message names the path and what to do
     */
    public static Path claim(Path dir, boolean privateToUser) {
        Path abs = dir.toAbsolutePath().normalize();
        try {
            if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
                checkDirectory(abs, privateToUser);
                if (!isOwned(abs)) {
                    throw new IllegalStateException(abs + " exists but was not created by kvpolicy (no " + MARKER
                            + " marker); kvpolicy will not write into it: move it away or choose another directory");
                }
                return abs;
            }
            Path parent = abs.getParent();
            if (parent == null) throw new IllegalStateException(abs + ": kvpolicy does not use a file-system root as its directory");
            if (!Files.exists(parent, LinkOption.NOFOLLOW_LINKS)) createChain(parent, privateToUser);
            else checkParent(parent);
            // The directory must never be visible without its marker (another thread or process would take it for a
            // foreign one): build it as a marked sibling and publish it by an atomic rename.
            Path staging = privateToUser && POSIX
                    ? Files.createTempDirectory(parent, "." + abs.getFileName() + ".kvpolicy-new-",
                            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")))
                    : Files.createTempDirectory(parent, "." + abs.getFileName() + ".kvpolicy-new-");
            try {
                Files.writeString(staging.resolve(MARKER), "created by kvpolicy; everything in this directory may be deleted by kvpolicy\n",
                        StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
                if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) return raced(staging, abs, privateToUser);
                try {
                    Files.move(staging, abs, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException e) {
                    // rename(2) onto a non-empty directory: Java reports ENOTEMPTY as a plain FileSystemException
                    if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) return raced(staging, abs, privateToUser);
                    throw e;
                }
            } catch (IOException | RuntimeException e) {
                deleteOwned(staging);
                throw e;
            }
            return abs;
        } catch (IOException e) {
            throw new UncheckedIOException(abs + ": cannot create kvpolicy's directory: " + e.getMessage(), e);
        }
    }

    /** Another thread or process created {@code abs} first: drop our staging copy and judge theirs. */
    private static Path raced(Path staging, Path abs, boolean privateToUser) {
        deleteOwned(staging);
        return claim(abs, privateToUser);
    }

    private static void createChain(Path dir, boolean privateToUser) throws IOException {
        Path parent = dir.getParent();
        if (parent != null && !Files.exists(parent, LinkOption.NOFOLLOW_LINKS)) createChain(parent, privateToUser);
        try {
            if (privateToUser && POSIX) Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            else Files.createDirectory(dir);
        } catch (FileAlreadyExistsException raced) {
            checkParent(dir);
        }
    }

    private static void checkParent(Path p) throws IOException {
        if (Files.isSymbolicLink(p) && !Files.isDirectory(p)) throw new IllegalStateException(p + " is a symbolic link to something that is not a directory");
        if (!Files.isDirectory(p)) throw new IllegalStateException(p + " is not a directory");
    }

    private static void checkDirectory(Path abs, boolean privateToUser) throws IOException {
        BasicFileAttributes a = Files.readAttributes(abs, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (a.isSymbolicLink()) throw new IllegalStateException(abs + " is a symbolic link; kvpolicy does not follow links for the directories it writes");
        if (!a.isDirectory()) throw new IllegalStateException(abs + " exists and is not a directory");
        if (privateToUser && POSIX) {
            UserPrincipal me = Files.getOwner(Path.of(System.getProperty("user.home")), LinkOption.NOFOLLOW_LINKS);
            UserPrincipal owner = Files.getOwner(abs, LinkOption.NOFOLLOW_LINKS);
            if (!owner.equals(me) && !owner.getName().equals(System.getProperty("user.name"))) {
                throw new IllegalStateException(abs + " belongs to " + owner.getName() + ", not to " + System.getProperty("user.name") + "; refusing to use it");
            }
            var perms = Files.getPosixFilePermissions(abs, LinkOption.NOFOLLOW_LINKS);
            if (perms.stream().anyMatch(p -> p.name().startsWith("GROUP_WRITE") || p.name().startsWith("OTHERS_WRITE"))) {
                throw new IllegalStateException(abs + " is writable by other users (" + PosixFilePermissions.toString(perms) + "); refusing to use it");
            }
        }
    }

    /**
     * Whether kvpolicy may add its cache folder to {@code dir}: the process can write it and, on POSIX, its permission
     * bits grant write access to someone (so a folder a user made read-only with {@code chmod a-w} stays untouched even
     * when kvpolicy runs as root, which the OS would let write anyway).
     */
    public static boolean writableByUser(Path dir) {
        if (!Files.isWritable(dir)) return false;
        if (!POSIX) return true;
        try {
            var perms = Files.getPosixFilePermissions(dir);
            return perms.stream().anyMatch(p -> p.name().endsWith("_WRITE"));
        } catch (IOException | UnsupportedOperationException e) {
            return true;
        }
    }

    /** True if {@code dir} is a real directory (not a link) holding kvpolicy's marker as a regular file. */
    public static boolean isOwned(Path dir) {
        return Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS) && Files.isRegularFile(dir.resolve(MARKER), LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * Creates a fresh owned temporary directory inside the owned directory {@code parent} (name prefix {@code .tmp-}).
     */
    public static Path newTemporary(Path parent, String prefix) {
        requireOwned(parent);
        try {
            Path t = Files.createTempDirectory(parent, ".tmp-" + prefix + "-");
            Files.writeString(t.resolve(MARKER), "temporary build directory of kvpolicy\n", StandardOpenOption.CREATE_NEW, LinkOption.NOFOLLOW_LINKS);
            return t;
        } catch (IOException e) {
            throw new UncheckedIOException(parent + ": cannot create a temporary directory: " + e.getMessage(), e);
        }
    }

    /**
     * Publishes the owned directory {@code from} as {@code to} by an atomic rename (both in the same owned parent).
     *
     * @return true if published; false if {@code to} appeared meanwhile (another process won; {@code from} is deleted)
     */
    public static boolean publish(Path from, Path to) {
        requireOwned(from);
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
            return true;
        } catch (IOException e) {
            deleteOwned(from);
            // lost the race: rename(2) onto a non-empty directory fails (Java may report ENOTEMPTY as a plain
            // FileSystemException rather than DirectoryNotEmptyException)
            if (Files.exists(to, LinkOption.NOFOLLOW_LINKS)) return false;
            throw new UncheckedIOException("cannot move " + from + " to " + to + ": " + e.getMessage(), e);
        }
    }

    /**
     * Deletes the owned directory {@code dir} and everything in it, never following symbolic links (a link inside is
     * removed as a link). Does nothing if {@code dir} does not exist.
     *
     * @throws IllegalStateException if {@code dir} exists but is not owned
     */
    public static void deleteOwned(Path dir) {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        requireOwned(dir);
        try (Stream<Path> all = Files.walk(dir)) { // walk does not follow links by default
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot delete kvpolicy's directory: " + e.getMessage(), e);
        }
    }

    private static void requireOwned(Path dir) {
        if (!isOwned(dir)) throw new IllegalStateException(dir + " is not a directory created by kvpolicy (no " + MARKER + " marker); refusing to modify it");
    }

    /**
     * The per-user cache root: {@code $KVPOLICY_CACHE_DIR}, else {@code $XDG_CACHE_HOME/kvpolicy}, else
     * {@code ~/.cache/kvpolicy} (system property {@code kvpolicy.cache.dir} overrides all). Not created here.
     */
    public static Path userCacheRoot() {
        String p = System.getProperty("kvpolicy.cache.dir");
        if (p == null || p.isBlank()) p = System.getenv("KVPOLICY_CACHE_DIR");
        if (p != null && !p.isBlank()) return Path.of(p).toAbsolutePath().normalize();
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "kvpolicy").toAbsolutePath().normalize();
        return Path.of(System.getProperty("user.home"), ".cache", "kvpolicy").toAbsolutePath().normalize();
    }
}
