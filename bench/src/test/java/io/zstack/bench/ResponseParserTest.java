package io.zstack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class ResponseParserTest {
    private final List<long[]> seen = new ArrayList<>();
    private final ResponseParser parser = new ResponseParser((status, body) -> seen.add(new long[] {status, body}));

    /** What a Netty server (the HTTP echo example) sends: Netty's own encoder. */
    private static byte[] nettyResponse(HttpResponseStatus status, int bodyLength) {
        byte[] body = new byte[bodyLength];
        Arrays.fill(body, (byte) 'z');
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_OCTET_STREAM);
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, bodyLength);
        EmbeddedChannel ch = new EmbeddedChannel(new HttpResponseEncoder());
        ch.writeOutbound(r);
        ByteBuf all = Unpooled.buffer();
        for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
            all.writeBytes(b);
            b.release();
        }
        byte[] bytes = new byte[all.readableBytes()];
        all.readBytes(bytes);
        return bytes;
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private void feed(byte[] bytes, int from, int to) {
        ByteBuf piece = Unpooled.wrappedBuffer(bytes, from, to - from);
        parser.feed(piece);
        assertEquals(0, piece.readableBytes(), "every byte taken");
    }

    @Test
    void readsNettysResponseSplitAtEveryByte() {
        byte[] response = nettyResponse(HttpResponseStatus.OK, 64);
        for (int cut = 0; cut <= response.length; cut++) {
            seen.clear();
            feed(response, 0, cut);
            assertEquals(cut == response.length ? 1 : 0, seen.size(), "complete only with the last byte, cut " + cut);
            feed(response, cut, response.length);
            assertEquals(1, seen.size(), "cut " + cut);
            assertEquals(200, seen.get(0)[0]);
            assertEquals(64, seen.get(0)[1]);
        }
    }

    @Test
    void readsOneByteAtATimeAndBackToBackResponses() {
        byte[] a = nettyResponse(HttpResponseStatus.OK, 8192);
        byte[] b = nettyResponse(HttpResponseStatus.NOT_FOUND, 0);
        byte[] c = nettyResponse(HttpResponseStatus.OK, 1);
        byte[] all = new byte[a.length + b.length + c.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        System.arraycopy(c, 0, all, a.length + b.length, c.length);
        feed(all, 0, all.length);
        for (int i = 0; i < all.length; i++) {
            feed(all, i, i + 1);
        }
        assertEquals(6, seen.size());
        for (int round = 0; round < 2; round++) {
            assertEquals(List.of(200L, 8192L), List.of(seen.get(3 * round)[0], seen.get(3 * round)[1]));
            assertEquals(List.of(404L, 0L), List.of(seen.get(3 * round + 1)[0], seen.get(3 * round + 1)[1]));
            assertEquals(List.of(200L, 1L), List.of(seen.get(3 * round + 2)[0], seen.get(3 * round + 2)[1]));
        }
    }

    @Test
    void readsHeadsThatCrossTheChunksOfOneBuffer() {
        // the head is copied out a chunk at a time: twenty 64 B answers in one buffer (a coalesced receive) put chunk
        // ends at every place in a head and a body, and a head longer than a chunk puts one inside a line
        byte[] one = nettyResponse(HttpResponseStatus.OK, 64);
        byte[] big = ascii("HTTP/1.1 200 OK\r\nx-long: " + "v".repeat(ResponseParser.CHUNK + 100)
                + "\r\ncontent-length: 5\r\n\r\nhello");
        byte[] all = new byte[20 * one.length + big.length];
        for (int i = 0; i < 20; i++) {
            System.arraycopy(one, 0, all, i * one.length, one.length);
        }
        System.arraycopy(big, 0, all, 20 * one.length, big.length);
        feed(all, 0, all.length);
        assertEquals(21, seen.size());
        for (int i = 0; i < 20; i++) {
            assertEquals(List.of(200L, 64L), List.of(seen.get(i)[0], seen.get(i)[1]), "response " + i);
        }
        assertEquals(List.of(200L, 5L), List.of(seen.get(20)[0], seen.get(20)[1]));
    }

    @Test
    void readsTheCPeersResponseWithOddCaseAndSpaces() {
        // bench/peers/http_echo.h's shape, and a header name in another case with blanks around the value
        byte[] peer = ascii("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 3\r\n\r\nabc");
        feed(peer, 0, peer.length);
        byte[] odd = ascii("HTTP/1.0 503 Busy\r\nX-A: b\r\nContent-LENGTH: \t 2 \r\nServer: x\r\n\r\nok");
        feed(odd, 0, odd.length);
        byte[] bareNewlines = ascii("HTTP/1.1 200 OK\ncontent-length: 0\n\n");
        feed(bareNewlines, 0, bareNewlines.length);
        assertEquals(3, seen.size());
        assertEquals(3, seen.get(0)[1]);
        assertEquals(List.of(503L, 2L), List.of(seen.get(1)[0], seen.get(1)[1]));
        assertEquals(List.of(200L, 0L), List.of(seen.get(2)[0], seen.get(2)[1]));
    }

    @Test
    void refusesWhatItCannotFrame() {
        assertRefused("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", "transfer-encoding");
        assertRefused("HTTP/1.1 200 OK\r\nserver: x\r\n\r\n", "without content-length");
        assertRefused("HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n", "bad content-length");
        assertRefused("HTTP/1.1 200 OK\r\ncontent-length: \r\n\r\n", "bad content-length");
        assertRefused("HTTP/1.1 200 OK\r\ncontent-length: 1234567890123456\r\n\r\n", "bad content-length");
        assertRefused("HTTP/1.1 2x0 OK\r\n", "bad status code");
        assertRefused("SSH-2.0-OpenSSH\r\n", "not an HTTP status line");
        assertRefused("HTTP/1.1 200 OK\r\nx: " + "y".repeat(ResponseParser.MAX_LINE) + "\r\n", "longer than");
    }

    private static void assertRefused(String response, String why) {
        ResponseParser p = new ResponseParser((status, body) -> {
            throw new AssertionError("no response expected");
        });
        byte[] bytes = ascii(response);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> p.feed(Unpooled.wrappedBuffer(bytes)));
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }
}
