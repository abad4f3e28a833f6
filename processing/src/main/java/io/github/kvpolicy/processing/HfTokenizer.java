package io.github.kvpolicy.processing;

import io.github.kvpolicy.processing.error.ProcessingException;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * A Hugging Face {@code tokenizer.json} (any model the Rust {@code tokenizers} library reads: byte-level BPE,
 * SentencePiece-style BPE/Unigram, WordPiece), run through DJL's JNI binding
 * ({@code ai.djl.huggingface:tokenizers}).
 *
 * <p><b>Offline.</b> DJL's tokenizer JAR carries its native library for linux-x86_64/aarch64, macOS-aarch64 and
 * Windows-x86_64; on first use it copies the library from the JAR into its engine cache
 * ({@code ~/.djl.ai/tokenizers/<version>-<platform>/}, or the folder named by the {@code ENGINE_CACHE_DIR} /
 * {@code DJL_CACHE_DIR} system property or environment variable) and loads it from there. Nothing is downloaded:
 * this class only ever builds a tokenizer from a local file ({@link HuggingFaceTokenizer#newInstance(java.io.InputStream, Map)}),
 * never from a hub name.
 *
 * <p><b>Behaviour.</b> {@link #encode(String, boolean)} is the Rust library's {@code Tokenizer.encode} with no
 * truncation and no padding (DJL's defaults, which truncate to 512, are switched off), so ids equal those of
 * {@code tokenizers} in Python. Special tokens written in the text (e.g. {@code <|im_start|>}, {@code <image>})
 * are matched as whole tokens, as in Python. {@code addSpecialTokens} applies the post-processor (a BOS for
 * Llama-3, nothing for ChatML models); chat prompts rendered from a template already contain their special
 * tokens and are encoded with {@code false}, as transformers' {@code apply_chat_template} does.
 * {@link #decode(int[], boolean)} is the library's decoder; {@code clean_up_tokenization_spaces} from
 * {@code tokenizer_config.json} is applied only when that file sets it to true.
 *
 * <p>Thread-safe (the native tokenizer is immutable); {@link #close()} frees the native handle.
 */
public final class HfTokenizer implements AutoCloseable {
    private final Path file;
    private final HuggingFaceTokenizer tokenizer;
    private final Map<String, Integer> vocab;
    private final Map<Integer, String> byId;
    private final Set<Integer> specialIds;
    private final boolean cleanUpSpaces;

    private HfTokenizer(Path file, HuggingFaceTokenizer tokenizer, Map<String, Integer> vocab, Set<Integer> specialIds,
                        boolean cleanUpSpaces) {
        this.file = file;
        this.tokenizer = tokenizer;
        this.vocab = Collections.unmodifiableMap(vocab);
        Map<Integer, String> inverse = new HashMap<>();
        vocab.forEach((k, v) -> inverse.putIfAbsent(v, k));
        this.byId = Collections.unmodifiableMap(inverse);
        this.specialIds = Collections.unmodifiableSet(specialIds);
        this.cleanUpSpaces = cleanUpSpaces;
    }

    /**
     * Loads {@code tokenizer.json} from a model folder (and reads {@code tokenizer_config.json} beside it when present).
     *
     * @throws ProcessingException naming the folder when it has no {@code tokenizer.json} or the file is not a tokenizer
     */
    public static HfTokenizer fromFolder(Path modelDir) {
        Path f = modelDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(f)) {
            throw new ProcessingException(modelDir + ": no tokenizer.json (expected a Hugging Face fast-tokenizer file in the model folder)");
        }
        return fromFile(f);
    }

    /** Loads a {@code tokenizer.json} file; {@code tokenizer_config.json} in the same folder is read when present. */
    public static HfTokenizer fromFile(Path tokenizerJson) {
        JsonObject root = Json.readObject(tokenizerJson);
        Map<String, Integer> vocab = new HashMap<>();
        Set<Integer> special = new HashSet<>();
        JsonObject model = Json.objectOr(root, "model");
        JsonElement v = model.get("vocab");
        if (v != null && v.isJsonObject()) {
            for (Map.Entry<String, JsonElement> e : v.getAsJsonObject().entrySet()) vocab.put(e.getKey(), e.getValue().getAsInt());
        } else if (v != null && v.isJsonArray()) { // Unigram: [[piece, score], ...]
            for (int i = 0; i < v.getAsJsonArray().size(); i++) vocab.put(v.getAsJsonArray().get(i).getAsJsonArray().get(0).getAsString(), i);
        }
        JsonElement added = root.get("added_tokens");
        if (added != null && added.isJsonArray()) {
            for (JsonElement a : added.getAsJsonArray()) {
                JsonObject t = a.getAsJsonObject();
                int id = t.get("id").getAsInt();
                vocab.put(t.get("content").getAsString(), id);
                if (Json.boolOr(t, "special", false)) special.add(id);
            }
        }
        boolean cleanUp = false;
        Path cfgFile = tokenizerJson.toAbsolutePath().getParent().resolve("tokenizer_config.json");
        var cfg = Json.readOptional(cfgFile);
        if (cfg.isPresent()) cleanUp = Json.boolOr(cfg.get(), "clean_up_tokenization_spaces", false);
        Map<String, String> options = new HashMap<>();
        options.put("addSpecialTokens", "false");
        options.put("truncation", "false");
        options.put("padding", "false");
        options.put("cleanupTokenizationSpaces", "false");
        options.put("modelMaxLength", String.valueOf(Integer.MAX_VALUE));
        HuggingFaceTokenizer t;
        try (var in = Files.newInputStream(tokenizerJson)) {
            t = HuggingFaceTokenizer.newInstance(in, options);
        } catch (IOException e) {
            throw new ProcessingException(tokenizerJson + ": cannot read (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            throw new ProcessingException(tokenizerJson + ": not a Hugging Face tokenizer.json (" + e.getMessage() + ")", e);
        }
        return new HfTokenizer(tokenizerJson, t, vocab, special, cleanUp);
    }

    /** The file this tokenizer was read from. */
    public Path file() {
        return file;
    }

    /**
     * Token ids of {@code text}; never truncated or padded.
     *
     * @param addSpecialTokens apply the tokenizer's post-processor (e.g. a leading BOS); {@code false} for rendered chat prompts
     */
    public int[] encode(String text, boolean addSpecialTokens) {
        Encoding enc = tokenizer.encode(text, addSpecialTokens, false);
        long[] ids = enc.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    /** {@code encode(text, false)}. */
    public int[] encode(String text) {
        return encode(text, false);
    }

    /** The text of {@code ids}; with {@code skipSpecialTokens} the tokens marked special in tokenizer.json are dropped. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0) throw new IllegalArgumentException("token id " + ids[i] + " at index " + i + " is negative");
            l[i] = ids[i];
        }
        String s = tokenizer.decode(l, skipSpecialTokens);
        return cleanUpSpaces ? cleanUp(s) : s;
    }

    /** The id of a token string (vocabulary entry or added token), if present. */
    public java.util.OptionalInt tokenId(String token) {
        Integer id = vocab.get(token);
        return id == null ? java.util.OptionalInt.empty() : java.util.OptionalInt.of(id);
    }

    /**
     * The id of {@code token}.
     *
     * @throws ProcessingException naming the tokenizer file and the token when it is not in the vocabulary
     */
    public int requireTokenId(String token) {
        return tokenId(token).orElseThrow(() -> new ProcessingException(
                file + ": token '" + token + "' is not in the vocabulary (expected it as a vocabulary entry or an added token)"));
    }

    /** The token string of {@code id} (as stored in the vocabulary, e.g. byte-level {@code Ġ} forms), if any. */
    public java.util.Optional<String> token(int id) {
        return java.util.Optional.ofNullable(byId.get(id));
    }

    /** True if {@code id} is an added token marked {@code special}. */
    public boolean isSpecial(int id) {
        return specialIds.contains(id);
    }

    /** Number of distinct ids (vocabulary plus added tokens). */
    public int vocabSize() {
        return byId.size();
    }

    /** A new streaming detokenizer over this tokenizer. */
    public StreamingDetokenizer streaming(boolean skipSpecialTokens) {
        return new StreamingDetokenizer(this, skipSpecialTokens);
    }

    private static String cleanUp(String s) {
        return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
                .replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re");
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
