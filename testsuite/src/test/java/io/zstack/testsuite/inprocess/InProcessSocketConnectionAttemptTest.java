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
 * the connection skips TCP ({@link ZStackSocketTestPermutation#inProcess()}). The black hole is an in-process server
 * whose accept queue is full: a connect to it stays pending, as a dropped SYN leaves a TCP connect. The refused cases
 * find no in-process server and are refused over TCP, as the path is designed to do.
 */
public class InProcessSocketConnectionAttemptTest extends ZStackSocketConnectionAttemptTest {
    /** Hides the TCP class's: the black hole is one of this permutation. */
    @BeforeAll
    static void openBlackHole() throws InterruptedException {
        blackHole = LoopbackBlackHole.open(ZStackSocketTestPermutation.inProcess());
    }

    @Override
    protected List<BootstrapFactory<Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.inProcess().clientSocket();
    }
}
