package io.github.kvpolicy.conformance.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The structured result stream a {@link ValidateWorker} child JVM writes, record by record, as checks start and
 * finish, and the parent {@link Validate} reads while the child runs. One record per line: a kind, then fields,
 * separated by tabs; backslash, tab, CR and LF inside fields are escaped ({@code \\ \t \r \n}). A record counts
 * only once its line ends (a child killed mid-write leaves at most one partial line, which is ignored).
 *
 * <p>Invariants: a child writes {@link Kind#HELLO} first and {@link Kind#DONE} last, and nothing after DONE; the
 * parent judges a JAR from the records it read plus how the child ended, so a missing DONE is never a pass.
 */
public final class ResultStream {
    /** Record kinds, with their fields. */
    public enum Kind {
        /** {@code HELLO pid}: the child started. */
        HELLO,
        /** {@code PROBLEM source message}: a JAR could not be loaded, or a name collision. */
        PROBLEM,
        /** {@code PLUGIN source name…}: the policy names a JAR provides. */
        PLUGIN,
        /** {@code POLICY name version class}: a policy's suite starts. */
        POLICY,
        /** {@code START method displayName}: a check starts. */
        START,
        /** {@code RESULT status method displayName reason}: a check finished (PASSED, FAILED or SKIPPED). */
        RESULT,
        /** {@code POLICY_END name passed failed skipped}: a policy's suite finished. */
        POLICY_END,
        /** {@code DONE status}: every suite finished; the exit status the child is about to return. */
        DONE
    }

    /** One record. */
    public record Record(Kind kind, List<String> fields) {
        public String field(int i) { return i < fields.size() ? fields.get(i) : ""; }
    }

    private ResultStream() {}

    /** Appends records to a file, flushing each one. Not thread-safe. */
    public static final class Writer implements AutoCloseable {
        private final OutputStream out;

        /** Creates or appends to {@code file}. */
        public Writer(Path file) {
            try {
                this.out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot open the result stream " + file, e);
            }
        }

        public synchronized void write(Kind kind, Object... fields) {
            StringBuilder sb = new StringBuilder(kind.name());
            for (Object f : fields) sb.append('\t').append(escape(String.valueOf(f)));
            sb.append('\n');
            try {
                out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the result stream", e);
            }
        }

        @Override
        public void close() {
            try {
                out.close();
            } catch (IOException e) {
                // nothing left to report to
            }
        }
    }

    /** Reads the complete records appended to a file since the last call. Not thread-safe. */
    public static final class Reader {
        private final Path file;
        private long offset;
        private final java.io.ByteArrayOutputStream pending = new java.io.ByteArrayOutputStream();

        public Reader(Path file) {
            this.file = file;
        }

        /** The records completed since the previous call (none if the file does not exist yet). */
        public List<Record> poll() {
            List<Record> out = new ArrayList<>();
            if (!Files.exists(file)) return out;
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
                long len = f.length();
                if (len <= offset) return out;
                byte[] buf = new byte[(int) Math.min(len - offset, 16 << 20)];
                f.seek(offset);
                f.readFully(buf);
                offset += buf.length;
                for (byte b : buf) {
                    if (b == '\n') {
                        String line = pending.toString(StandardCharsets.UTF_8);
                        pending.reset();
                        Record r = parse(line);
                        if (r != null) out.add(r);
                    } else pending.write(b);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the result stream " + file, e);
            }
            return out;
        }
    }

    /** Parses one line; null if it is not a record (unknown kind). */
    static Record parse(String line) {
        String[] parts = line.split("\t", -1);
        Kind kind;
        try {
            kind = Kind.valueOf(parts[0]);
        } catch (IllegalArgumentException e) {
            return null;
        }
        List<String> fields = new ArrayList<>();
        for (int i = 1; i < parts.length; i++) fields.add(unescape(parts[i]));
        return new Record(kind, fields);
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '\t' -> sb.append("\\t");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                default -> sb.append(c);
            }
        }
        return sb.toString();
    }

    static String unescape(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                char n = s.charAt(++i);
                sb.append(switch (n) {
                    case 't' -> '\t';
                    case 'n' -> '\n';
                    case 'r' -> '\r';
                    default -> n;
                });
            } else sb.append(c);
        }
        return sb.toString();
    }
}
