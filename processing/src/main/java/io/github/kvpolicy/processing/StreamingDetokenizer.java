package io.github.kvpolicy.processing;

import java.util.Arrays;

/**
 * Incremental detokenisation for streaming generation: feed tokens one at a time, get back the text they add.
 *
 * <p>Byte-level BPE splits a multi-byte character (an emoji, a CJK character) over several tokens; decoding a
 * prefix that ends inside such a character yields U+FFFD. This class holds text back until it is complete:
 * it decodes a short window {@code ids[prefixOffset:]} and compares it with {@code ids[prefixOffset:readOffset]}
 * (the window already emitted), emitting the text past the emitted window's length only when it is longer and does
 * not end in U+FFFD (the scheme of text-generation-inference and vLLM). Decoding a window
 * that starts a few tokens back (rather than each token alone) also keeps decoder rules that depend on the
 * neighbouring token (SentencePiece's leading-space handling) right.
 *
 * <p>Invariant: the concatenation of everything {@link #push} returned plus {@link #finish()} equals
 * {@code tokenizer.decode(allIds, skipSpecialTokens)} for decoders that decode concatenatively (byte-level BPE,
 * Metaspace), and no returned piece ever contains a broken character unless the token stream itself is
 * invalid UTF-8 (then {@link #finish()} returns the remainder with U+FFFD, as the full decode would). Not thread-safe.
 */
public final class StreamingDetokenizer {
    private final HfTokenizer tokenizer;
    private final boolean skipSpecial;
    private int[] ids = new int[16];
    private int size;
    private int prefixOffset;
    private int readOffset;

    StreamingDetokenizer(HfTokenizer tokenizer, boolean skipSpecial) {
        this.tokenizer = tokenizer;
        this.skipSpecial = skipSpecial;
    }

    /** Adds one generated token; returns the text it completes (possibly empty, never with a trailing U+FFFD). */
    public String push(int id) {
        if (size == ids.length) ids = Arrays.copyOf(ids, size * 2);
        ids[size++] = id;
        String prefix = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset), skipSpecial);
        String full = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, size), skipSpecial);
        if (full.length() > prefix.length() && !full.endsWith("\uFFFD")) {
            String delta = full.substring(prefix.length());
            prefixOffset = readOffset;
            readOffset = size;
            return delta;
        }
        return "";
    }

    /** The text still held back (an incomplete character at the end of the stream); resets nothing. */
    public String finish() {
        String prefix = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset), skipSpecial);
        String full = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, size), skipSpecial);
        String rest = full.length() > prefix.length() ? full.substring(prefix.length()) : "";
        prefixOffset = readOffset = size;
        return rest;
    }

    /** Number of tokens pushed so far. */
    public int size() {
        return size;
    }
}
