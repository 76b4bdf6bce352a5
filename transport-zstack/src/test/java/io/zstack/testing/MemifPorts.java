package io.zstack.testing;

import io.zstack.device.DpdkPortDevice;

/** Tear-down of two memif ports of one process, in the order DPDK 22.11's memif PMD survives. */
public final class MemifPorts {
    private MemifPorts() {
    }

    /**
     * Closes a memif pair once nobody polls either end: the client first, then, once DPDK's interrupt thread has seen
     * the disconnect on the server end (its link is down), the server. Closing the server while that thread still
     * tears it down has crashed the JVM inside DPDK's heap: both free the same regions.
     */
    public static void closePair(DpdkPortDevice client, DpdkPortDevice server) throws InterruptedException {
        try {
            if (client != null) {
                client.close();
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (server.port().info().linkUp() && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
            }
        } finally {
            server.close();
        }
    }
}
