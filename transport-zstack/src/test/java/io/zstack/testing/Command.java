package io.zstack.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs an external command with a time limit and returns its exit code and output (stdout and stderr merged). */
public final class Command {
    /** How a command ended; {@code pid} is its process id (kept by programs that exec the next, as ip netns exec). */
    public record Result(int exitCode, String output, long pid) {
        public Result requireSuccess(List<String> command) {
            if (exitCode != 0) {
                throw new IllegalStateException(String.join(" ", command) + " exited " + exitCode + ":\n" + output);
            }
            return this;
        }
    }

    private Command() {
    }

    public static Result run(long timeoutSeconds, List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getOutputStream().close();
            byte[][] out = new byte[1][];
            Thread reader = Thread.ofVirtual().start(() -> {
                try {
                    out[0] = p.getInputStream().readAllBytes();
                } catch (IOException e) {
                    out[0] = ("<output lost: " + e + ">").getBytes(StandardCharsets.UTF_8);
                }
            });
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                reader.join(5000);
                throw new IllegalStateException(String.join(" ", command) + " did not finish in " + timeoutSeconds
                        + " s; output so far:\n" + (out[0] == null ? "" : new String(out[0], StandardCharsets.UTF_8)));
            }
            reader.join(5000);
            return new Result(p.exitValue(), out[0] == null ? "" : new String(out[0], StandardCharsets.UTF_8),
                    p.pid());
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + String.join(" ", command) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + String.join(" ", command), e);
        }
    }

    public static Result run(String... command) {
        return run(60, List.of(command));
    }

    public static String check(String... command) {
        return run(60, List.of(command)).requireSuccess(List.of(command)).output();
    }
}
