package io.zstack.testsuite.inprocess;

import io.netty.bootstrap.Bootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapFactory;
import io.zstack.testsuite.ZStackSocketTestPermutation;
import io.zstack.testsuite.ZStackWriteBeforeRegisteredTest;
import java.util.List;

/**
 * {@link ZStackWriteBeforeRegisteredTest} over the in-process path: both ends are ZStack channels of this JVM, so the
 * connection skips TCP ({@link ZStackSocketTestPermutation#inProcess()}).
 */
public class InProcessWriteBeforeRegisteredTest extends ZStackWriteBeforeRegisteredTest {
    @Override
    protected List<BootstrapFactory<Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.inProcess().clientSocket();
    }
}
