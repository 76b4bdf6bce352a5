package io.zstack.example.httpecho;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The lean handler's exchange, byte for byte, against what the C peers (bench/peers/http_echo.h) answer. */
class LeanHttpEchoHandlerTest {
    private final EmbeddedChannel ch = new EmbeddedChannel(new LeanHttpEchoHandler());

    private void send(String bytes) {
        ch.writeInbound(Unpooled.copiedBuffer(bytes, StandardCharsets.ISO_8859_1));
    }

    /** Everything written to the client so far. */
    private String answered() {
        StringBuilder s = new StringBuilder();
        for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
            s.append(b.toString(StandardCharsets.ISO_8859_1));
            b.release();
        }
        return s.toString();
    }

    private static String ok(String type, String body) {
        return "HTTP/1.1 200 OK\r\ncontent-type: " + type + "\r\ncontent-length: " + body.length() + "\r\n\r\n" + body;
    }

    @Test
    void echoesARequestSplitAtEveryByte() {
        String request = "POST /echo HTTP/1.1\r\nhost: x\r\nContent-Type: text/x\r\nContent-Length: 5\r\n\r\nhello";
        for (int cut = 0; cut <= request.length(); cut++) {
            send(request.substring(0, cut));
            send(request.substring(cut));
            assertEquals(ok("text/x", "hello"), answered(), "cut at " + cut);
        }
        assertTrue(ch.isOpen());
    }

    @Test
    void echoesALargeBodyAsItArrivesAndPipelinedRequestsInOrder() {
        String body = "z".repeat(10_000);
        send("POST /echo HTTP/1.1\r\ncontent-length: 10000\r\n\r\n" + body.substring(0, 3000));
        send(body.substring(3000) + "GET /size/30 HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
        assertEquals(ok("application/octet-stream", body) + ok("application/octet-stream",
                "abcdefghijklmnopqrstuvwxyzabcd") + ok("application/octet-stream", ""), answered());
        assertTrue(ch.isOpen());
    }

    @Test
    void aBufferThatIsAllBodyIsEchoedAsItIsAndOneWithMoreAsASlice() {
        send("POST /echo HTTP/1.1\r\ncontent-length: 5000\r\n\r\n");
        assertEquals("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 5000\r\n\r\n",
                answered());
        ByteBuf wholeBody = Unpooled.copiedBuffer("y".repeat(3000), StandardCharsets.ISO_8859_1);
        ch.writeInbound(wholeBody);
        ByteBuf out = ch.readOutbound();
        assertTrue(out == wholeBody, "the received buffer itself, not a copy or a slice of it: " + out);
        assertEquals(1, out.refCnt());
        out.release();
        // the body's end and the next request in one buffer: the body's part goes as a slice, the buffer is released
        // once both are answered and the slice is
        ByteBuf tail = Unpooled.copiedBuffer("y".repeat(2000) + "GET /size/3 HTTP/1.1\r\n\r\n",
                StandardCharsets.ISO_8859_1);
        ch.writeInbound(tail);
        ByteBuf bodyEnd = ch.readOutbound();
        assertTrue(bodyEnd != tail);
        assertEquals("y".repeat(2000), bodyEnd.toString(StandardCharsets.ISO_8859_1));
        bodyEnd.release();
        assertEquals(ok("application/octet-stream", "abc"), answered());
        assertEquals(0, tail.refCnt());
        assertTrue(ch.isOpen());
    }

    @Test
    void keepAliveFollowsTheRequest() {
        send("GET /size/1 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assertEquals("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 1\r\n"
                + "connection: keep-alive\r\n\r\na", answered());
        assertTrue(ch.isOpen());
        send("GET /size/2 HTTP/1.1\r\nconnection: close\r\n\r\nGET /size/3 HTTP/1.1\r\n\r\n");
        ch.runPendingTasks();
        assertEquals("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 2\r\n"
                + "connection: close\r\n\r\nab", answered(), "nothing after the request that closes");
        assertFalse(ch.isOpen());
    }

    @Test
    void anHttp10RequestClosesByDefault() {
        send("POST /x HTTP/1.0\r\ncontent-length: 2\r\n\r\nhi");
        ch.runPendingTasks();
        assertEquals("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 2\r\n"
                + "connection: close\r\n\r\nhi", answered());
        assertFalse(ch.isOpen());
    }

    @Test
    void expectContinueIsAnsweredBeforeTheBody() {
        // the response's head goes at once too (its length is known), its body as the request's arrives
        send("POST /echo HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n");
        String head = ok("application/octet-stream", "");
        assertEquals("HTTP/1.1 100 Continue\r\n\r\n" + head.replace("length: 0", "length: 3"), answered());
        send("abc");
        assertEquals("abc", answered());
    }

    @Test
    void statsIsA404OffZStackAndOtherUrisEcho() {
        send("GET /stats HTTP/1.1\r\n\r\n");
        assertEquals("HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 46\r\n\r\n"
                + "statistics exist on the zstack transport only\n", answered());
        send("GET /sizes HTTP/1.1\r\n\r\n");
        assertEquals(ok("application/octet-stream", ""), answered());
    }

    @Test
    void refusalsAnswerAndClose() {
        assertRefused("GET /size/-4 HTTP/1.1\r\n\r\n", 400, "size must be 0..67108864\n", false);
        assertRefused("GET /size/99999999999 HTTP/1.1\r\n\r\n", 400, "size must be 0..67108864\n", false);
        assertRefused("POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n", 501,
                "chunked request bodies are not supported by this server\n", true);
        assertRefused("POST / HTTP/1.1\r\ncontent-length: 99999999\r\n\r\n", 413, "request body too large\n", true);
        assertRefused("POST / HTTP/1.1\r\ncontent-length: 1a\r\n\r\n", 400, "bad request\n", true);
        assertRefused("NONSENSE\r\n\r\n", 400, "bad request\n", true);
        assertRefused("GET / HTTP/1.1\r\nx: " + "y".repeat(LeanHttpEchoHandler.MAX_HEAD) + "\r\n\r\n", 431,
                "request head over 16384 bytes\n", true);
    }

    private static void assertRefused(String request, int status, String text, boolean closes) {
        EmbeddedChannel ch = new EmbeddedChannel(new LeanHttpEchoHandler());
        ch.writeInbound(Unpooled.copiedBuffer(request, StandardCharsets.ISO_8859_1));
        ch.runPendingTasks();
        StringBuilder s = new StringBuilder();
        for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
            s.append(b.toString(StandardCharsets.ISO_8859_1));
            b.release();
        }
        String reason = switch (status) {
            case 400 -> "Bad Request";
            case 413 -> "Request Entity Too Large";
            case 431 -> "Request Header Fields Too Large";
            default -> "Not Implemented";
        };
        assertEquals("HTTP/1.1 " + status + " " + reason + "\r\ncontent-type: text/plain\r\ncontent-length: "
                + text.length() + "\r\n" + (closes ? "connection: close\r\n" : "") + "\r\n" + text, s.toString(),
                request.substring(0, Math.min(40, request.length())));
        assertEquals(!closes, ch.isOpen());
        ch.finishAndReleaseAll();
    }
}
