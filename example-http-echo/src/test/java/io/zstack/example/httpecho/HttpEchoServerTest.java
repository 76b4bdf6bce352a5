package io.zstack.example.httpecho;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.netty.channel.Channel;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The example answers a real HTTP client (the JDK's) over loopback, on each kernel transport. */
class HttpEchoServerTest {

    @ParameterizedTest
    @CsvSource({"epoll, netty", "nio, netty", "epoll, lean", "nio, lean"})
    void echoesBodiesAndServesSizedResponses(String transportName, String http) throws Exception {
        HttpEchoServer.Transport transport = HttpEchoServer.Transport.of(transportName, 1);
        Channel server = HttpEchoServer.start(transport, new InetSocketAddress("127.0.0.1", 0), false, null,
                http.equals("lean"));
        try {
            int port = ((InetSocketAddress) server.localAddress()).getPort();
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(5)).build();
            byte[] body = new byte[100_000];
            new java.util.Random(1).nextBytes(body);
            HttpResponse<byte[]> echo = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/echo"))
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body)).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, echo.statusCode());
            assertArrayEquals(body, echo.body());

            HttpResponse<byte[]> sized = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/size/1000"))
                    .GET().timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, sized.statusCode());
            assertEquals(1000, sized.body().length);
            for (int i = 0; i < 1000; i++) {
                assertEquals('a' + i % 26, sized.body()[i]);
            }
            HttpResponse<String> bad = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/size/-4"))
                    .GET().timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(400, bad.statusCode());
        } finally {
            server.close().sync();
            transport.group().shutdownGracefully().sync();
        }
    }

    @Test
    void copyModeIsRefusedOnKernelTransports() throws Exception {
        HttpEchoServer.Transport transport = HttpEchoServer.Transport.of("nio", 1);
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> HttpEchoServer.start(transport, new InetSocketAddress("127.0.0.1", 0), true));
            assertEquals("copy mode is a ZStack option; the transport is nio", e.getMessage());
        } finally {
            transport.group().shutdownGracefully().sync();
        }
    }
}
