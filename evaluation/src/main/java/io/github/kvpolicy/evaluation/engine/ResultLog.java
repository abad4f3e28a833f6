package io.github.kvpolicy.evaluation.engine;

import io.github.kvpolicy.evaluation.json.JsonLines;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An append-only results file: JSONL, a header line {@value #HEADER} then one {@link ResultRecord} per line.
 *
 * <p>Invariants and guarantees:
 * <ul>
 *   <li>A record is finished when its line, ending with {@code \n}, is in the file. {@link #append} writes the whole
 *       line with one positional write at the end of the finished lines before it returns, so a process killed at any
 *       moment leaves every appended record intact and at most one unfinished last line; {@link #sync} (called by the
 *       engine after each example) also forces the file to the disk, so an OS crash loses at most the current
 *       example.</li>
 *   <li>Resuming reads the finished records, drops an unfinished last line (a record cut by a kill: it is computed
 *       again) and appends after them. Any other unreadable line is an error naming its line number: the file is not
 *       guessed at.</li>
 *   <li>kvpolicy only appends to (or cuts the unfinished tail of) files that start with its header; it never
 *       replaces or deletes a results file. Starting a fresh run where the file exists is an error.</li>
 *   <li>While open, the file is locked, so two runs cannot append to it at once.</li>
 *   <li>Each key (example, policy, retention) occurs at most once: {@link #append} refuses a key already present.</li>
 * </ul>
 * Not thread-safe.
 */
public final class ResultLog implements AutoCloseable {
    /** The first line of every results file kvpolicy writes. */
    public static final String HEADER = "{\"kvpolicy_results\":1}";

    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;
    private final Map<ResultRecord.Key, ResultRecord> records = new LinkedHashMap<>();
    private final int resumed;
    private final boolean droppedUnfinishedLine;

    private ResultLog(Path file, FileChannel channel, FileLock lock, List<ResultRecord> existing, boolean dropped) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
        for (ResultRecord r : existing) records.put(r.key(), r);
        this.resumed = existing.size();
        this.droppedUnfinishedLine = dropped;
    }

    /**
     * Opens {@code file} for a run.
     *
     * @param resume false: the file must not exist and is created with the header; true: an existing kvpolicy results
     *               file is continued (a missing one is created)
     * @throws IllegalArgumentException one line naming the file and the problem (exists without resume, not a kvpolicy
     *                                  results file, an unreadable line, locked by another run)
     */
    public static ResultLog open(Path file, boolean resume) {
        try {
            if (Files.exists(file) && !resume) {
                throw new IllegalArgumentException("results file " + file + " already exists; pass --resume to continue it, or choose another output directory");
            }
            if (!Files.exists(file)) {
                FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.READ);
                FileLock lock = lock(ch, file);
                writeFully(ch, (HEADER + "\n").getBytes(StandardCharsets.UTF_8), 0);
                ch.force(true);
                return new ResultLog(file, ch, lock, List.of(), false);
            }
            FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.READ);
            try {
                FileLock lock = lock(ch, file);
                byte[] bytes = Files.readAllBytes(file);
                int end = bytes.length;
                while (end > 0 && bytes[end - 1] != '\n') end--; // the finished lines end at the last line break
                String text = new String(bytes, 0, end, StandardCharsets.UTF_8);
                String[] lines = text.isEmpty() ? new String[0] : text.split("\n", -1);
                if (lines.length == 0 || !lines[0].equals(HEADER)) {
                    throw new IllegalArgumentException("results file " + file + " does not start with " + HEADER
                            + ", so kvpolicy did not write it; refusing to append to it (choose another output directory)");
                }
                List<ResultRecord> existing = new ArrayList<>();
                Map<ResultRecord.Key, Integer> seen = new LinkedHashMap<>();
                for (int i = 1; i < lines.length - 1; i++) { // the last element is the empty string after the final \n
                    ResultRecord r;
                    try {
                        r = ResultRecord.fromJson(JsonLines.parse(lines[i]));
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException(file + ":" + (i + 1) + ": unreadable results record (" + e.getMessage()
                                + "); the file was changed by something other than kvpolicy; fix or remove that line to resume");
                    }
                    Integer first = seen.putIfAbsent(r.key(), i + 1);
                    if (first != null) throw new IllegalArgumentException(file + ":" + (i + 1) + ": record " + r.key() + " repeats line " + first);
                    existing.add(r);
                }
                boolean dropped = end < bytes.length;
                if (dropped) {
                    ch.truncate(end); // only the unfinished tail of our own file: a record cut by a kill
                    ch.force(true);
                }
                return new ResultLog(file, ch, lock, existing, dropped);
            } catch (RuntimeException | IOException e) {
                ch.close();
                throw e;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open results file " + file + ": " + e.getMessage(), e);
        }
    }

    private static FileLock lock(FileChannel ch, Path file) throws IOException {
        FileLock l;
        try {
            l = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            l = null;
        }
        if (l == null) {
            ch.close();
            throw new IllegalArgumentException("results file " + file + " is in use by another kvpolicy run");
        }
        return l;
    }

    private static void writeFully(FileChannel ch, byte[] bytes, long position) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        long p = position;
        while (b.hasRemaining()) p += ch.write(b, p);
    }

    public Path file() {
        return file;
    }

    /** Whether {@code key} is finished (in the file). */
    public boolean contains(ResultRecord.Key key) {
        return records.containsKey(key);
    }

    /** Every finished record, in file order (the resumed ones first). */
    public List<ResultRecord> records() {
        return Collections.unmodifiableList(new ArrayList<>(records.values()));
    }

    /** How many finished records the file had when it was opened. */
    public int resumed() {
        return resumed;
    }

    /** Whether opening dropped an unfinished last line. */
    public boolean droppedUnfinishedLine() {
        return droppedUnfinishedLine;
    }

    /**
     * Appends {@code r} as one line.
     *
     * @throws IllegalStateException if its key is already in the file
     */
    public void append(ResultRecord r) {
        if (records.containsKey(r.key())) throw new IllegalStateException("record " + r.key() + " is already in " + file);
        try {
            writeFully(channel, (r.toJson() + "\n").getBytes(StandardCharsets.UTF_8), channel.size());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to results file " + file + ": " + e.getMessage(), e);
        }
        records.put(r.key(), r);
    }

    /** Forces what was appended to the disk. */
    public void sync() {
        try {
            channel.force(false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot sync results file " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try (FileChannel c = channel) {
            c.force(false);
            if (lock.isValid()) lock.release();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close results file " + file + ": " + e.getMessage(), e);
        }
    }
}
