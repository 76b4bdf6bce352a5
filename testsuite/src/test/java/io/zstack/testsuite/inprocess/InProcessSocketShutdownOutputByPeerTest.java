package io.zstack.testsuite.inprocess;

import io.zstack.testsuite.ZStackSocketShutdownOutputByPeerTest;
import io.zstack.testsuite.ZStackSocketTestPermutation;

/**
 * {@link ZStackSocketShutdownOutputByPeerTest} over the in-process path: both ends are ZStack channels of this JVM, so
 * the connection skips TCP ({@link ZStackSocketTestPermutation#inProcess()}).
 */
public class InProcessSocketShutdownOutputByPeerTest extends ZStackSocketShutdownOutputByPeerTest {
    @Override
    protected ZStackSocketTestPermutation permutation() {
        return ZStackSocketTestPermutation.inProcess();
    }
}
