package io.zstack.testsuite.inprocess;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.zstack.testsuite.ZStackSocketCancelWriteTest;
import io.zstack.testsuite.ZStackSocketTestPermutation;
import java.util.List;

/**
 * {@link ZStackSocketCancelWriteTest} over the in-process path: both ends are ZStack channels of this JVM, so the
 * connection skips TCP ({@link ZStackSocketTestPermutation#inProcess()}).
 */
public class InProcessSocketCancelWriteTest extends ZStackSocketCancelWriteTest {
    @Override
    protected List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.inProcess().socket();
    }
}
