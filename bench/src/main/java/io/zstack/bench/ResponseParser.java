package io.zstack.bench;

import io.netty.buffer.ByteBuf;
import io.zstack.example.httpecho.ByteScan;

/**
 * Reads HTTP/1.1 responses framed by Content-Length as their bytes arrive, in pieces of any size, creating no object
 * per response: the load generator's client side, as lean as wrk's parser. Netty's {@code HttpClientCodec} built a
 * response, a headers map and content objects for each one (about 2 KB of heap per request), a fifth of the load
 * generator's CPU at 64 B: the load generator was the bound of setup 2 against the C servers, and measured itself.
 *
 * <p>It reads the status code and Content-Length and skips everything else; a response without a Content-Length
 * (chunked, or to be closed) is refused with an exception, as is a line longer than {@link #MAX_LINE}.
 */
final class ResponseParser {
    /** Longest header line read: every line the servers of the harness send is far shorter. */
    static final int MAX_LINE = 512;

    /** Told of each response whose last byte arrived. */
    interface Listener {
        void response(int status, long bodyBytes);
    }

    private final Listener listener;
    private final byte[] line = new byte[MAX_LINE];
    private int lineLength;
    private boolean inBody;
    private boolean statusLineRead;
    private int status;
    private long contentLength = -1;
    private long bodyLeft;

    ResponseParser(Listener listener) {
        this.listener = listener;
    }

    /** Bytes of a response head copied out of a buffer at once: a 64 B echo's whole response, status to body. */
    static final int CHUNK = 256;

    private final byte[] chunk = new byte[CHUNK];

    /**
     * Takes every readable byte of {@code in} (its reader index moves to its writer index). The head is copied out
     * a chunk at a time and its lines found eight bytes at a time in the array ({@link ByteScan}): a search and a
     * copy per line on the received buffer (bounds-checked native memory) cost 116 ns a 64 B response, a tenth of the
     * load generator's CPU per request at 64 B, where it is one of the pair's two bounds; this, 78 ns. The body is
     * skipped, never copied (but for what shares the head's chunk).
     */
    void feed(ByteBuf in) {
        while (in.isReadable()) {
            if (inBody) {
                int n = (int) Math.min(bodyLeft, in.readableBytes());
                in.skipBytes(n);
                bodyLeft -= n;
                if (bodyLeft == 0) {
                    complete();
                }
                continue;
            }
            int n = Math.min(in.readableBytes(), CHUNK);
            in.getBytes(in.readerIndex(), chunk, 0, n);
            in.skipBytes(head(n));
        }
    }

    /**
     * Reads head lines from {@code chunk[0..n)} until the head ends (then the body's bytes in the chunk are counted
     * off, and a next response's head, if the chunk holds one, read too) or the chunk does: the bytes taken.
     */
    private int head(int n) {
        int i = 0;
        while (i < n) {
            if (inBody) {
                int body = (int) Math.min(bodyLeft, n - i);
                bodyLeft -= body;
                i += body;
                if (bodyLeft == 0) {
                    complete();
                    continue;
                }
                return i; // the rest of the body is skipped in the buffer, not copied
            }
            int found = ByteScan.indexOf(chunk, (byte) '\n', i, n);
            int newline = found < 0 ? n : found;
            int length = newline - i;
            if (lineLength + length > MAX_LINE) {
                throw new IllegalStateException("response header line longer than " + MAX_LINE + " bytes");
            }
            if (newline == n) {
                System.arraycopy(chunk, i, line, lineLength, length); // the line goes on in the next chunk
                lineLength += length;
                return n;
            }
            if (lineLength == 0) {
                headerLine(chunk, i, length > 0 && chunk[newline - 1] == '\r' ? length - 1 : length);
            } else {
                System.arraycopy(chunk, i, line, lineLength, length);
                int whole = lineLength + length;
                lineLength = 0;
                headerLine(line, 0, whole > 0 && line[whole - 1] == '\r' ? whole - 1 : whole);
            }
            i = newline + 1;
        }
        return i;
    }

    /** One line of a head, {@code b[off..off + length)} without its line end. */
    private void headerLine(byte[] b, int off, int length) {
        if (!statusLineRead) {
            // "HTTP/1.1 200 OK"
            if (length < 12 || b[off] != 'H' || b[off + 4] != '/' || b[off + 8] != ' ') {
                throw new IllegalStateException("not an HTTP status line: " + text(b, off, length));
            }
            status = digit(b, off, 9) * 100 + digit(b, off, 10) * 10 + digit(b, off, 11);
            statusLineRead = true;
        } else if (length == 0) {
            if (contentLength < 0) {
                throw new IllegalStateException("response without content-length (status " + status + ")");
            }
            bodyLeft = contentLength;
            inBody = true;
            if (bodyLeft == 0) {
                complete();
            }
        } else if (startsWithIgnoreCase(b, off, length, "content-length:")) {
            int i = off + "content-length:".length();
            int end = off + length;
            while (i < end && (b[i] == ' ' || b[i] == '\t')) {
                i++;
            }
            while (end > i && (b[end - 1] == ' ' || b[end - 1] == '\t')) {
                end--;
            }
            if (end == i || end - i > 15) {
                throw new IllegalStateException("bad content-length: " + text(b, off, length));
            }
            long value = 0;
            for (; i < end; i++) {
                if (b[i] < '0' || b[i] > '9') {
                    throw new IllegalStateException("bad content-length: " + text(b, off, length));
                }
                value = value * 10 + (b[i] - '0');
            }
            contentLength = value;
        } else if (startsWithIgnoreCase(b, off, length, "transfer-encoding:")) {
            throw new IllegalStateException("transfer-encoding is not read: " + text(b, off, length));
        }
    }

    private void complete() {
        long body = contentLength;
        int code = status;
        inBody = false;
        statusLineRead = false;
        contentLength = -1;
        listener.response(code, body);
    }

    private static boolean startsWithIgnoreCase(byte[] b, int off, int length, String name) {
        if (length < name.length()) {
            return false;
        }
        // ASCII case folding: Character.toLowerCase (Unicode tables) was 1 % of the load generator's CPU at 4 KB
        for (int i = 0; i < name.length(); i++) {
            int c = b[off + i];
            if (c >= 'A' && c <= 'Z') {
                c += 'a' - 'A';
            }
            if (c != name.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static int digit(byte[] b, int off, int at) {
        if (b[off + at] < '0' || b[off + at] > '9') {
            throw new IllegalStateException("bad status code: " + text(b, off, 12));
        }
        return b[off + at] - '0';
    }

    private static String text(byte[] b, int off, int length) {
        return new String(b, off, Math.min(length, 80), java.nio.charset.StandardCharsets.ISO_8859_1);
    }
}
