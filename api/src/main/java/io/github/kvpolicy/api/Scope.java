package io.github.kvpolicy.api;

/** Which cached tokens a policy may evict. Tokens outside the scope are always kept. */
@Stable
public enum Scope {
    /** Only visual tokens ({@link Modality#IMAGE}); every text and generated token is kept. */
    VISUAL,
    /** Every token, text, visual and generated. */
    ALL;

    /** True if a token of modality {@code m} is in this scope. */
    public boolean includes(Modality m) {
        return this == ALL || m == Modality.IMAGE;
    }
}
