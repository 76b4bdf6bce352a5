package io.zstack.bench;

import io.netty.buffer.ByteBuf;

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

    /** Takes every readable byte of {@code in} (its reader index moves to its writer index). */
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
            int from = in.readerIndex();
            int newline = in.indexOf(from, in.writerIndex(), (byte) '\n');
            int n = (newline < 0 ? in.writerIndex() : newline) - from;
            if (lineLength + n > MAX_LINE) {
                throw new IllegalStateException("response header line longer than " + MAX_LINE + " bytes");
            }
            in.readBytes(line, lineLength, n);
            lineLength += n;
            if (newline < 0) {
                return; // the line goes on in the next piece
            }
            in.skipBytes(1);
            int length = lineLength > 0 && line[lineLength - 1] == '\r' ? lineLength - 1 : lineLength;
            lineLength = 0;
            headerLine(length);
        }
    }

    private void headerLine(int length) {
        if (!statusLineRead) {
            // "HTTP/1.1 200 OK"
            if (length < 12 || line[0] != 'H' || line[4] != '/' || line[8] != ' ') {
                throw new IllegalStateException("not an HTTP status line: " + text(length));
            }
            status = digit(line[9]) * 100 + digit(line[10]) * 10 + digit(line[11]);
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
        } else if (startsWithIgnoreCase(length, "content-length:")) {
            int i = "content-length:".length();
            int end = length;
            while (i < end && (line[i] == ' ' || line[i] == '\t')) {
                i++;
            }
            while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\t')) {
                end--;
            }
            if (end == i || end - i > 15) {
                throw new IllegalStateException("bad content-length: " + text(length));
            }
            long value = 0;
            for (; i < end; i++) {
                if (line[i] < '0' || line[i] > '9') {
                    throw new IllegalStateException("bad content-length: " + text(length));
                }
                value = value * 10 + (line[i] - '0');
            }
            contentLength = value;
        } else if (startsWithIgnoreCase(length, "transfer-encoding:")) {
            throw new IllegalStateException("transfer-encoding is not read: " + text(length));
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

    private boolean startsWithIgnoreCase(int length, String name) {
        if (length < name.length()) {
            return false;
        }
        // ASCII case folding: Character.toLowerCase (Unicode tables) was 1 % of the load generator's CPU at 4 KB
        for (int i = 0; i < name.length(); i++) {
            int b = line[i];
            if (b >= 'A' && b <= 'Z') {
                b += 'a' - 'A';
            }
            if (b != name.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private int digit(byte b) {
        if (b < '0' || b > '9') {
            throw new IllegalStateException("bad status code: " + text(12));
        }
        return b - '0';
    }

    private String text(int length) {
        return new String(line, 0, Math.min(length, 80), java.nio.charset.StandardCharsets.ISO_8859_1);
    }
}
