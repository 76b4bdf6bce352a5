package io.zstack.testsuite.inprocess;

import io.zstack.testsuite.ZStackSocketChannelNotYetConnectedTest;
import io.zstack.testsuite.ZStackSocketTestPermutation;

/**
 * {@link ZStackSocketChannelNotYetConnectedTest} over the in-process path: both ends are ZStack channels of this JVM,
 * so the connection skips TCP ({@link ZStackSocketTestPermutation#inProcess()}).
 */
public class InProcessSocketChannelNotYetConnectedTest extends ZStackSocketChannelNotYetConnectedTest {
    @Override
    protected ZStackSocketTestPermutation permutation() {
        return ZStackSocketTestPermutation.inProcess();
    }
}
