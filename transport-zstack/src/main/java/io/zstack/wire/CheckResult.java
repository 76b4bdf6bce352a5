package io.zstack.wire;

/**
 * Outcome of a view's sanity check. Checks never throw on malformed input: they return the reason, so a
 * caller can count drops per reason (index an array by {@link #ordinal()}).
 */
public enum CheckResult {
    /** Every field the view reads lies inside the buffer and is consistent. */
    OK,
    /** The buffer is shorter than the fixed header (or the view lies outside its segment). */
    TOO_SHORT,
    /** IPv4 version field is not 4. */
    BAD_VERSION,
    /** IPv4 IHL below 5, or the header runs past the buffer. */
    BAD_HEADER_LENGTH,
    /** IPv4 total length below the header length or beyond the buffer. */
    BAD_TOTAL_LENGTH,
    /** TCP data offset below 5, or the header runs past the segment. */
    BAD_DATA_OFFSET,
    /** A TCP option is malformed: bad length, wrong length for its kind, or runs past the header. */
    BAD_OPTION,
    /** ARP hardware type is not Ethernet (1) or hardware address length is not 6. */
    BAD_HARDWARE_TYPE,
    /** ARP protocol type is not IPv4 (0x0800) or protocol address length is not 4. */
    BAD_PROTOCOL_TYPE,
    /** ARP operation is neither request nor reply. */
    BAD_OPERATION,
    /** A checksum does not verify (only reported by callers that check it). */
    BAD_CHECKSUM;

    public boolean isOk() {
        return this == OK;
    }
}
