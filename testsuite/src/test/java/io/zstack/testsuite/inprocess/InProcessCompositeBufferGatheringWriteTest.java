package io.zstack.testsuite.inprocess;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.testsuite.transport.TestsuitePermutation.BootstrapComboFactory;
import io.zstack.testsuite.ZStackCompositeBufferGatheringWriteTest;
import io.zstack.testsuite.ZStackSocketTestPermutation;
import java.util.List;

/**
 * {@link ZStackCompositeBufferGatheringWriteTest} over the in-process path: both ends are ZStack channels of this JVM,
 * so the connection skips TCP ({@link ZStackSocketTestPermutation#inProcess()}).
 */
public class InProcessCompositeBufferGatheringWriteTest extends ZStackCompositeBufferGatheringWriteTest {
    @Override
    protected List<BootstrapComboFactory<ServerBootstrap, Bootstrap>> newFactories() {
        return ZStackSocketTestPermutation.inProcess().socket();
    }
}
