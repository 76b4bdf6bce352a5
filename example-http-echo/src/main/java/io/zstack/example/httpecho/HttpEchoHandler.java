package io.zstack.example.httpecho;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.util.function.BiConsumer;

/**
 * Answers every request: {@code GET /size/N} with N bytes, anything else with the request body echoed back.
 * Keep-alive follows the request. The response body comes from the channel's own allocator, so a transport with
 * its own buffers (ZStack's mbufs) fills them directly.
 */
@Sharable
public final class HttpEchoHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    /** Largest body GET /size/N will produce. */
    public static final int MAX_SIZE = 64 * 1024 * 1024;
    /** GET /size/N's pattern, a whole number of 'a'..'z' runs long, so block k starts again at 'a'. */
    private static final byte[] PATTERN = new byte[26 * 2520];

    static {
        for (int i = 0; i < PATTERN.length; i++) {
            PATTERN[i] = (byte) ('a' + i % 26);
        }
    }

    public HttpEchoHandler() {
        // the request is released here, unless its body became the response's: an echo hands the received buffers
        // on as the only reference to them, which lets ZStack send them without a copy (a retained duplicate would
        // still be shared with the request while the write runs, and shared buffers are copied)
        super(false);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        boolean bodyMoved = false;
        try {
            bodyMoved = answer(ctx, request);
        } finally {
            if (!bodyMoved) {
                request.release();
            }
        }
    }

    /** Writes the response; true when the request's body went into it. */
    private static boolean answer(ChannelHandlerContext ctx, FullHttpRequest request) {
        FullHttpResponse response;
        boolean bodyMoved = false;
        String uri = request.uri();
        if (request.method() == HttpMethod.GET && uri.equals("/stats")) {
            stats(ctx, HttpUtil.isKeepAlive(request));
            return false;
        }
        if (request.method() == HttpMethod.GET && uri.startsWith("/size/")) {
            int size;
            try {
                size = Integer.parseInt(uri.substring("/size/".length()));
            } catch (NumberFormatException e) {
                size = -1;
            }
            if (size < 0 || size > MAX_SIZE) {
                response = plain(HttpResponseStatus.BAD_REQUEST, "size must be 0.." + MAX_SIZE + "\n", ctx);
            } else {
                ByteBuf body = ctx.alloc().buffer(size);
                fillPattern(body, size);
                response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, body);
                response.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_OCTET_STREAM);
            }
        } else {
            response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, request.content());
            bodyMoved = true;
            String type = request.headers().get(HttpHeaderNames.CONTENT_TYPE);
            response.headers().set(HttpHeaderNames.CONTENT_TYPE,
                    type != null ? type : HttpHeaderValues.APPLICATION_OCTET_STREAM);
        }
        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, response.content().readableBytes());
        boolean keepAlive = HttpUtil.isKeepAlive(request);
        if (keepAlive) {
            if (!request.protocolVersion().isKeepAliveDefault()) {
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            }
            ctx.writeAndFlush(response);
        } else {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        }
        return bodyMoved;
    }

    /**
     * Writes GET /size/N's body: a recognisable pattern, cheap to check (byte i is 'a' + i % 26), a block at a time (a
     * byte at a time, filling a 64 MiB body took a fifth of a bulk sender's CPU).
     */
    static void fillPattern(ByteBuf body, int size) {
        for (int written = 0; written < size; written += PATTERN.length) {
            body.writeBytes(PATTERN, 0, Math.min(PATTERN.length, size - written));
        }
    }

    private static void stats(ChannelHandlerContext ctx, boolean keepAlive) {
        statistics(ctx, (status, text) -> send(ctx, plain(status, text, ctx), keepAlive));
    }

    /**
     * GET /stats, for both handlers: on ZStack, every loop's counters and connections (200, text, answered on the
     * channel's executor once every loop has described itself); elsewhere a 404 saying why, answered at once.
     */
    static void statistics(ChannelHandlerContext ctx, BiConsumer<HttpResponseStatus, String> answer) {
        if (!(ctx.channel().eventLoop().parent() instanceof io.zstack.channel.ZStackEventLoopGroup group)) {
            answer.accept(HttpResponseStatus.NOT_FOUND, "statistics exist on the zstack transport only\n");
            return;
        }
        group.describe().addListener(f -> ctx.executor().execute(() -> answer.accept(HttpResponseStatus.OK,
                f.isSuccess() ? (String) f.getNow() : "statistics failed: " + f.cause() + "\n")));
    }

    private static void send(ChannelHandlerContext ctx, FullHttpResponse response, boolean keepAlive) {
        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, response.content().readableBytes());
        if (keepAlive) {
            ctx.writeAndFlush(response);
        } else {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        }
    }

    private static FullHttpResponse plain(HttpResponseStatus status, String text, ChannelHandlerContext ctx) {
        ByteBuf body = ctx.alloc().buffer(text.length());
        body.writeCharSequence(text, java.nio.charset.StandardCharsets.US_ASCII);
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body);
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN);
        return r;
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
