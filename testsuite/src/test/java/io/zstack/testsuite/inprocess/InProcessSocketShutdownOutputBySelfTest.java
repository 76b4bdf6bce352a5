package io.zstack.testsuite.inprocess;

import io.zstack.testsuite.ZStackSocketShutdownOutputBySelfTest;
import io.zstack.testsuite.ZStackSocketTestPermutation;

/**
 * {@link ZStackSocketShutdownOutputBySelfTest} over the in-process path: both ends are ZStack channels of this JVM, so
 * the connection skips TCP ({@link ZStackSocketTestPermutation#inProcess()}).
 */
public class InProcessSocketShutdownOutputBySelfTest extends ZStackSocketShutdownOutputBySelfTest {
    @Override
    protected ZStackSocketTestPermutation permutation() {
        return ZStackSocketTestPermutation.inProcess();
    }
}
