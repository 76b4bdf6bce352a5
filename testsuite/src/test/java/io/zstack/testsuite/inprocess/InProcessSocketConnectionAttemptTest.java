package io.zstack.testsuite.inprocess;

import io.netty.bootstrap.Bootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.zstack.testsuite.LoopbackBlackHole;
import io.zstack.testsuite.ZStackSocketConnectionAttemptTest;
import io.zstack.testsuite.ZStackSocketTestPermutation;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;

/**
 * {@link ZStackSocketConnectionAttemptTest} over the in-process path: both ends are ZStack channels of this JVM, so
 * the connection skips TCP ({@link ZStackSocketTestPermutation#inProcess()}). Its black hole is a TCP listener (the
 * in-process path refuses at once when a backlog is full), so the timeout and cancellation cases take TCP from this
 * permutation's group; the refused cases find no in-process listener and take TCP too, which answers with a reset.
 */
public class InProcessSocketConnectionAttemptTest extends ZStackSocketConnectionAttemptTest {
    /** Hides the TCP class's: the black hole is a TCP listener, filled from this permutation's group. */
    @BeforeAll
    static void openBlackHole() throws InterruptedException {
        blackHole = LoopbackBlackHole.open(ZStackSocketTestPermutation.INSTANCE,
                ZStackSocketTestPermutation.inProcess());
    }

    @Override
    protected List<BootstrapFactory<Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.inProcess().clientSocket();
    }
}
