package io.zstack.example.httpecho;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.charset.StandardCharsets;

/**
 * The exchange of {@link HttpEchoHandler} without Netty's HTTP codec: the request head is parsed from the received
 * bytes as the C peer servers of the benchmark parse it (bench/peers/http_echo.h), the response head is written from
 * bytes, and an echoed body is handed back as slices of the received buffers, as they arrive. No object per request.
 *
 * <p>Why it exists: Netty's {@code HttpServerCodec} and {@code HttpObjectAggregator} (a request, a headers map,
 * content objects, a response) are about half of a ZStack server's CPU per request at 64 B, so against the C servers
 * the benchmark measured Netty's codec rather than the stacks. {@code http-echo --http lean} runs this handler so the
 * stacks can be compared with the same application work; the Netty handler stays the default, as what an existing
 * Netty server costs.
 *
 * <p>The same behaviour as the C peers: {@code GET /size/N}, {@code GET /stats} (ZStack's counters; a 404 elsewhere),
 * anything else echoed with its content-type; keep-alive as the request asks; {@code Expect: 100-continue} answered
 * before the body; chunked bodies 501, heads over 16 KiB 431, bodies over {@link HttpEchoServer#MAX_CONTENT} 413,
 * a malformed head 400, each followed by a close. One channel's handler: not sharable.
 */
final class LeanHttpEchoHandler extends ChannelInboundHandlerAdapter {
    static final int MAX_HEAD = 16 * 1024;
    /** An echoed body at most this long goes in the response head's buffer (one piece), as Netty's encoder does. */
    private static final int MERGE_BODY = 1024;
    private static final byte[] CONTINUE = ascii("HTTP/1.1 100 Continue\r\n\r\n");
    private static final byte[] OCTET_STREAM = ascii("application/octet-stream");
    private static final byte[] TEXT_PLAIN = ascii("text/plain");

    private final byte[] head = new byte[MAX_HEAD];
    private int headLength;
    /** Bytes of the current request's body still to come and be echoed. */
    private long bodyLeft;
    /** Close once the current response is out. */
    private boolean closeAfter;
    /** A request was refused or the connection is closing: what else arrives is dropped. */
    private boolean closing;
    /** Something written since the last flush. */
    private boolean unflushed;

    // the request being parsed (fields of the head just read)
    private boolean get;
    private int uriStart;
    private int uriEnd;
    private boolean http10;
    private boolean keepAlive;
    private boolean expectContinue;
    private long contentLength;
    private int typeStart;
    private int typeEnd;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf in)) {
            ctx.fireChannelRead(msg);
            return;
        }
        boolean handedOn = false;
        try {
            while (in.isReadable() && !closing) {
                if (bodyLeft > 0) {
                    int n = (int) Math.min(bodyLeft, in.readableBytes());
                    // the response holds the received bytes' only reference, which ZStack sends without a copy: the
                    // buffer itself when the rest of it is body (a slice object per segment was all this handler
                    // allocated at 8 KB, a young collection every few seconds), else a slice of it
                    handedOn = n == in.readableBytes();
                    ctx.write(handedOn ? in : in.readRetainedSlice(n), ctx.voidPromise());
                    unflushed = true;
                    bodyLeft -= n;
                    if (bodyLeft == 0) {
                        requestDone(ctx);
                    }
                    if (handedOn) {
                        return; // `in` is the response's now, and nothing of it is left to read
                    }
                    continue;
                }
                readHead(ctx, in);
            }
        } finally {
            if (!handedOn) {
                in.release();
            }
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (unflushed) {
            unflushed = false;
            ctx.flush();
        }
        ctx.fireChannelReadComplete();
    }

    /** Takes head bytes from {@code in}; answers the request once its head is complete. */
    private void readHead(ChannelHandlerContext ctx, ByteBuf in) {
        int take = Math.min(Math.min(in.readableBytes(), 512), MAX_HEAD - headLength);
        if (take == 0) {
            refuse(ctx, 431, "request head over " + MAX_HEAD + " bytes\n");
            return;
        }
        int from = in.readerIndex();
        in.getBytes(from, head, headLength, take);
        int end = ByteScan.headEnd(head, headLength, headLength + take);
        if (end < 0) {
            headLength += take;
            in.readerIndex(from + take);
            return;
        }
        in.readerIndex(from + end - headLength); // what follows the head is the body, or the next request
        headLength = 0;
        answer(ctx, in, end);
    }

    private void answer(ChannelHandlerContext ctx, ByteBuf in, int length) {
        if (!parse(ctx, length)) {
            return; // refused, and closing
        }
        closeAfter = !keepAlive;
        if (get && uriEquals("/stats")) {
            stats(ctx);
            return;
        }
        if (get && uriEnd - uriStart >= 6 && uriStartsWith("/size/")) {
            long size = parseSize();
            if (size < 0 || size > HttpEchoHandler.MAX_SIZE) {
                text(ctx, 400, "size must be 0.." + HttpEchoHandler.MAX_SIZE + "\n");
                return;
            }
            ByteBuf out = responseHead(ctx, 200, OCTET_STREAM, 0, OCTET_STREAM.length, size, (int) size);
            HttpEchoHandler.fillPattern(out, (int) size);
            ctx.write(out, ctx.voidPromise());
            unflushed = true;
            requestDone(ctx);
            return;
        }
        if (expectContinue && contentLength > 0) {
            ctx.writeAndFlush(ctx.alloc().buffer(CONTINUE.length).writeBytes(CONTINUE), ctx.voidPromise());
        }
        byte[] typeFrom = typeEnd > typeStart ? head : OCTET_STREAM;
        int tStart = typeEnd > typeStart ? typeStart : 0;
        int tEnd = typeEnd > typeStart ? typeEnd : OCTET_STREAM.length;
        boolean merge = contentLength <= MERGE_BODY && in.readableBytes() >= contentLength;
        ByteBuf out = responseHead(ctx, 200, typeFrom, tStart, tEnd, contentLength, merge ? (int) contentLength : 0);
        if (merge) {
            out.writeBytes(in, (int) contentLength);
            ctx.write(out, ctx.voidPromise());
            unflushed = true;
            requestDone(ctx);
            return;
        }
        ctx.write(out, ctx.voidPromise());
        unflushed = true;
        bodyLeft = contentLength;
        if (bodyLeft == 0) {
            requestDone(ctx);
        }
    }

    /** The response is complete: flush and close if the request asked for it. */
    private void requestDone(ChannelHandlerContext ctx) {
        if (closeAfter) {
            closing = true;
            unflushed = false;
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    /**
     * Reads the head in head[0..length): the request line and the headers the exchange needs. False when the request
     * was refused (answered with an error, and closing).
     */
    private boolean parse(ChannelHandlerContext ctx, int length) {
        get = false;
        http10 = false;
        keepAlive = true;
        expectContinue = false;
        contentLength = 0;
        typeStart = typeEnd = 0;
        int eol = indexOf((byte) '\n', 0, length);
        int sp1 = indexOf((byte) ' ', 0, eol);
        int sp2 = sp1 < 0 ? -1 : indexOf((byte) ' ', sp1 + 1, eol);
        if (eol < 0 || sp1 < 0 || sp2 < 0) {
            return refuse(ctx, 400, "bad request\n");
        }
        get = sp1 == 3 && head[0] == 'G' && head[1] == 'E' && head[2] == 'T';
        uriStart = sp1 + 1;
        uriEnd = sp2;
        if (regionEquals(sp2 + 1, eol, "HTTP/1.0", false)) {
            http10 = true;
            keepAlive = false;
        }
        for (int line = eol + 1; line < length; ) {
            int lineEnd = indexOf((byte) '\n', line, length);
            if (lineEnd < 0) {
                break;
            }
            int end = lineEnd > line && head[lineEnd - 1] == '\r' ? lineEnd - 1 : lineEnd;
            int colon = indexOf((byte) ':', line, end);
            if (colon > 0) {
                int v = colon + 1;
                while (v < end && (head[v] == ' ' || head[v] == '\t')) {
                    v++;
                }
                int vEnd = end;
                while (vEnd > v && (head[vEnd - 1] == ' ' || head[vEnd - 1] == '\t')) {
                    vEnd--;
                }
                int nameLength = colon - line;
                if (nameLength == 14 && regionEquals(line, colon, "content-length", true)) {
                    long n = decimal(v, vEnd, 12);
                    if (n < 0) {
                        return refuse(ctx, 400, "bad request\n");
                    }
                    if (n > HttpEchoServer.MAX_CONTENT) {
                        return refuse(ctx, 413, "request body too large\n");
                    }
                    contentLength = n;
                } else if (nameLength == 10 && regionEquals(line, colon, "connection", true)) {
                    if (contains(v, vEnd, "close")) {
                        keepAlive = false;
                    } else if (contains(v, vEnd, "keep-alive")) {
                        keepAlive = true;
                    }
                } else if (nameLength == 12 && regionEquals(line, colon, "content-type", true)) {
                    typeStart = v;
                    typeEnd = vEnd;
                } else if (nameLength == 6 && regionEquals(line, colon, "expect", true)) {
                    expectContinue = contains(v, vEnd, "100-continue");
                } else if (nameLength == 17 && regionEquals(line, colon, "transfer-encoding", true)) {
                    return refuse(ctx, 501, "chunked request bodies are not supported by this server\n");
                }
            }
            line = lineEnd + 1;
        }
        return true;
    }

    /** Answers {@code status} with {@code text} and closes the connection; false, for {@link #parse} to return. */
    private boolean refuse(ChannelHandlerContext ctx, int status, String text) {
        closeAfter = true;
        text(ctx, status, text);
        return false;
    }

    /** A text/plain answer; closes afterwards when the request asked for it or {@link #closeAfter} is set. */
    private void text(ChannelHandlerContext ctx, int status, String text) {
        byte[] body = text.getBytes(StandardCharsets.UTF_8);
        ByteBuf out = responseHead(ctx, status, TEXT_PLAIN, 0, TEXT_PLAIN.length, body.length, body.length);
        out.writeBytes(body);
        ctx.write(out, ctx.voidPromise());
        unflushed = true;
        requestDone(ctx);
    }

    /** GET /stats: what {@link HttpEchoHandler#statistics} answers, flushed at once when it comes later. */
    private void stats(ChannelHandlerContext ctx) {
        boolean close = closeAfter;
        boolean[] answeringNow = {true};
        HttpEchoHandler.statistics(ctx, (status, text) -> {
            closeAfter = close;
            text(ctx, status.code(), text);
            if (!answeringNow[0]) {
                ctx.flush(); // after the read that asked, so no channelReadComplete flushes it
                unflushed = false;
            }
        });
        answeringNow[0] = false;
    }

    /**
     * A buffer holding the response head (status line, content-type, content-length, connection as needed) with
     * room for {@code bodyRoom} more bytes. The head is put together in {@link #out} and written with one copy: a
     * head written piece by piece (strings encoded a character at a time into the buffer) was half of this
     * handler's CPU at 64 B.
     */
    private ByteBuf responseHead(ChannelHandlerContext ctx, int status, byte[] type, int typeStart, int typeEnd,
                                 long bodyLength, int bodyRoom) {
        int n = put(0, status == 200 ? STATUS_200 : ascii("HTTP/1.1 " + HttpResponseStatus.valueOf(status) + "\r\n"));
        n = put(n, CONTENT_TYPE);
        System.arraycopy(type, typeStart, out, n, typeEnd - typeStart);
        n += typeEnd - typeStart;
        n = put(n, CONTENT_LENGTH);
        n = putDecimal(n, bodyLength);
        n = put(n, closeAfter ? CLOSE : http10 ? KEEP_ALIVE : CRLF);
        ByteBuf buf = ctx.alloc().buffer(n + bodyRoom);
        buf.writeBytes(out, 0, n);
        return buf;
    }

    private static final byte[] STATUS_200 = ascii("HTTP/1.1 200 OK\r\n");
    private static final byte[] CONTENT_TYPE = ascii("content-type: ");
    private static final byte[] CONTENT_LENGTH = ascii("\r\ncontent-length: ");
    private static final byte[] CRLF = ascii("\r\n\r\n");
    private static final byte[] CLOSE = ascii("\r\nconnection: close\r\n\r\n");
    private static final byte[] KEEP_ALIVE = ascii("\r\nconnection: keep-alive\r\n\r\n");
    /** Where a response head is put together: longer than any head (a content-type is at most a request head). */
    private final byte[] out = new byte[MAX_HEAD + 256];

    private int put(int at, byte[] bytes) {
        System.arraycopy(bytes, 0, out, at, bytes.length);
        return at + bytes.length;
    }

    private int putDecimal(int at, long value) {
        int digits = 1;
        for (long v = value; v >= 10; v /= 10) {
            digits++;
        }
        for (int i = at + digits - 1; i >= at; i--) {
            out[i] = (byte) ('0' + value % 10);
            value /= 10;
        }
        return at + digits;
    }

    private long parseSize() {
        return decimal(uriStart + 6, uriEnd, 10);
    }

    /** The decimal number in head[from..to): 1 to {@code maxDigits} digits and nothing else, else -1. */
    private long decimal(int from, int to, int maxDigits) {
        if (to - from < 1 || to - from > maxDigits) {
            return -1;
        }
        long n = 0;
        for (int i = from; i < to; i++) {
            if (head[i] < '0' || head[i] > '9') {
                return -1;
            }
            n = n * 10 + (head[i] - '0');
        }
        return n;
    }

    private boolean uriEquals(String s) {
        return uriEnd - uriStart == s.length() && regionEquals(uriStart, uriEnd, s, false);
    }

    private boolean uriStartsWith(String s) {
        return regionEquals(uriStart, uriStart + s.length(), s, false);
    }

    private int indexOf(byte b, int from, int to) {
        return ByteScan.indexOf(head, b, from, to);
    }

    /** head[from..to) starts with {@code s} (and is no shorter), ASCII case ignored when asked. */
    private boolean regionEquals(int from, int to, String s, boolean ignoreCase) {
        if (to - from < s.length()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            int c = head[from + i];
            if (ignoreCase && c >= 'A' && c <= 'Z') {
                c += 'a' - 'A';
            }
            if (c != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** head[from..to) contains {@code token}, case ignored. */
    private boolean contains(int from, int to, String token) {
        for (int i = from; i + token.length() <= to; i++) {
            if (regionEquals(i, to, token, true)) {
                return true;
            }
        }
        return false;
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
