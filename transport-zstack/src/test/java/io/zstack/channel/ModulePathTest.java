package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The transport as a module ({@code io.zstack.transport}, module-info.java) and as a plain class-path jar: a small
 * application, itself a named module that requires the transport, compiles against the exported package alone, and
 * the same compiled program starts a server on a loopback group, connects to it and gets its request echoed, once on
 * the module path and once on the class path, in JVMs of their own that deny native access not granted (so the
 * module's flag is the one that counts). A source that imports the stack's inside does not compile against the module.
 */
class ModulePathTest {
    private static final String APPLICATION = """
            package zstack.modulecheck;

            import io.netty.bootstrap.Bootstrap;
            import io.netty.bootstrap.ServerBootstrap;
            import io.netty.buffer.ByteBuf;
            import io.netty.buffer.Unpooled;
            import io.netty.channel.Channel;
            import io.netty.channel.ChannelHandlerContext;
            import io.netty.channel.ChannelInboundHandlerAdapter;
            import io.netty.channel.EventLoopGroup;
            import io.zstack.channel.ZStackChannelOption;
            import io.zstack.channel.ZStackCongestionControl;
            import io.zstack.channel.ZStackConfig;
            import io.zstack.channel.ZStackEventLoopGroup;
            import io.zstack.channel.ZStackServerSocketChannel;
            import io.zstack.channel.ZStackSocketChannel;
            import io.zstack.channel.ZStackTcpDefaults;
            import java.nio.charset.StandardCharsets;
            import java.util.concurrent.CompletableFuture;
            import java.util.concurrent.TimeUnit;

            public final class Echo {
                public static void main(String[] args) throws Exception {
                    EventLoopGroup group = new ZStackEventLoopGroup(1, ZStackConfig.builder()
                            .address("127.0.0.1/8")
                            .tcp(ZStackTcpDefaults.builder().congestionControl(ZStackCongestionControl.NEW_RENO).build())
                            .inProcess(false)
                            .build());
                    try {
                        Channel server = new ServerBootstrap().group(group).channel(ZStackServerSocketChannel.class)
                                .childHandler(new ChannelInboundHandlerAdapter() {
                                    @Override
                                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                        ctx.writeAndFlush(msg);
                                    }
                                }).bind(7).sync().channel();
                        CompletableFuture<String> answer = new CompletableFuture<>();
                        String request = "ping from " + (Echo.class.getModule().isNamed() ? "a module" : "the class path");
                        Channel client = new Bootstrap().group(group).channel(ZStackSocketChannel.class)
                                .handler(new ChannelInboundHandlerAdapter() {
                                    private final StringBuilder received = new StringBuilder();

                                    @Override
                                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                        ByteBuf buf = (ByteBuf) msg;
                                        received.append(buf.toString(StandardCharsets.US_ASCII));
                                        buf.release();
                                        if (received.length() >= request.length()) {
                                            answer.complete(received.toString());
                                        }
                                    }
                                }).connect("127.0.0.1", 7).sync().channel();
                        client.writeAndFlush(Unpooled.copiedBuffer(request, StandardCharsets.US_ASCII));
                        System.out.println("answer: " + answer.get(20, TimeUnit.SECONDS));
                        System.out.println("congestion control: "
                                + client.config().getOption(ZStackChannelOption.CONGESTION_CONTROL));
                        client.close().sync();
                        server.close().sync();
                    } finally {
                        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
                    }
                }
            }
            """;

    private static Path transportClasses;
    private static List<Path> nettyJars;

    @BeforeAll
    static void locate() throws URISyntaxException {
        transportClasses = Path.of(ZStackEventLoopGroup.class.getProtectionDomain().getCodeSource().getLocation()
                .toURI());
        assertTrue(Files.exists(transportClasses.resolve("module-info.class"))
                        || transportClasses.toString().endsWith(".jar"),
                "the transport's classes have no module-info.class: " + transportClasses);
        nettyJars = Stream.of(System.getProperty("java.class.path").split(File.pathSeparator))
                .map(Path::of)
                .filter(p -> p.getFileName().toString().matches(
                        "netty-(common|buffer|transport|resolver)-\\d.*\\.jar"))
                .toList();
        assertEquals(4, nettyJars.size(), "Netty's common, buffer, resolver and transport jars: " + nettyJars);
    }

    @Test
    void anApplicationModuleAndAClassPathApplicationBothGetAnAnswer(@TempDir Path dir) throws Exception {
        Path sources = dir.resolve("src");
        Path out = dir.resolve("out");
        write(sources.resolve("module-info.java"), "module zstack.modulecheck { requires io.zstack.transport; }");
        write(sources.resolve("zstack/modulecheck/Echo.java"), APPLICATION);
        String errors = compile(sources, out);
        assertEquals("", errors, "the application did not compile against the exported package");

        String modular = run(List.of("--enable-native-access=io.zstack.transport", "--module-path",
                path(out, transportClasses), "-m", "zstack.modulecheck/zstack.modulecheck.Echo"));
        assertTrue(modular.contains("answer: ping from a module"), modular);
        assertTrue(modular.contains("congestion control: NEW_RENO"), "the group's TCP defaults: " + modular);

        String classPath = run(List.of("--enable-native-access=ALL-UNNAMED", "-cp", path(out, transportClasses),
                "zstack.modulecheck.Echo"));
        assertTrue(classPath.contains("answer: ping from the class path"), classPath);
    }

    @Test
    void theStacksInsideIsNotVisibleToAModule(@TempDir Path dir) throws Exception {
        Path sources = dir.resolve("src");
        write(sources.resolve("module-info.java"), "module zstack.insidecheck { requires io.zstack.transport; }");
        write(sources.resolve("zstack/insidecheck/Inside.java"), """
                package zstack.insidecheck;

                public final class Inside {
                    io.zstack.tcp.TcpSettings settings;
                    io.zstack.dpdk.Eal eal;
                }
                """);
        String errors = compile(sources, dir.resolve("out"));
        assertTrue(errors.contains("package io.zstack.tcp is not visible"), errors);
        assertTrue(errors.contains("package io.zstack.dpdk is not visible"), errors);
    }

    private static String compile(Path sources, Path out) throws IOException {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        List<String> arguments = new ArrayList<>(List.of("-d", out.toString(), "--module-path",
                path(transportClasses)));
        try (Stream<Path> files = Files.walk(sources)) {
            files.filter(f -> f.toString().endsWith(".java")).forEach(f -> arguments.add(f.toString()));
        }
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        javac.run(null, null, errors, arguments.toArray(String[]::new));
        return errors.toString(StandardCharsets.UTF_8);
    }

    /** Runs a JVM that denies native access not granted by its flags; returns its output once it exits 0. */
    private static String run(List<String> arguments) throws Exception {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--illegal-native-access=deny", "--sun-misc-unsafe-memory-access=allow"));
        command.addAll(arguments);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        boolean exited = process.waitFor(60, TimeUnit.SECONDS);
        if (!exited) {
            process.destroyForcibly().waitFor();
        }
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(exited, "still running after 60 s: " + command + "\n" + output);
        assertEquals(0, process.exitValue(), command + "\n" + output);
        assertFalse(output.contains("Exception"), output);
        assertFalse(output.contains("does not provide complete low-level API"), "Netty without Unsafe: " + output);
        return output;
    }

    private static String path(Path... first) {
        List<Path> all = new ArrayList<>(List.of(first));
        all.addAll(nettyJars);
        return all.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator));
    }

    private static void write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(file))) {
            w.print(text);
        }
    }
}
