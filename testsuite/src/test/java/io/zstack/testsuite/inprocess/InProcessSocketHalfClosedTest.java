package io.zstack.testsuite.inprocess;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.zstack.testsuite.ZStackSocketHalfClosedTest;
import io.zstack.testsuite.ZStackSocketTestPermutation;
import java.util.List;

/**
 * {@link ZStackSocketHalfClosedTest} over the in-process path: both ends are ZStack channels of this JVM, so the
 * connection skips TCP ({@link ZStackSocketTestPermutation#inProcess()}).
 */
public class InProcessSocketHalfClosedTest extends ZStackSocketHalfClosedTest {
    @Override
    protected List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.inProcess().socket();
    }
}
