package io.zstack.stack;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.dpdk.PortConfig;
import io.zstack.ip.Ipv4Config;
import io.zstack.testing.Command;
import io.zstack.testing.TapNetwork;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The Linux kernel, in a namespace of its own, pings an address served by ZStack over a DPDK tap port: ARP is
 * resolved and every echo request is answered, also one that waited in the tap while the stack's thread was away.
 */
class TapPingTest {
    private static final Pattern SUMMARY = Pattern.compile("(\\d+) packets transmitted, (\\d+) received");

    @Test
    void kernelPingsTheStackHundredTimesAndGetsHundredReplies() throws Exception {
        try (TapNetwork net = TapNetwork.create("10.77.0.1", PortConfig.defaults());
             NetStack stack = new NetStack(net.device, Ipv4Config.parse("10.77.0.2/24", null))) {
            // how many replies the loop must have sent before it stops: unknown (-1) while ping runs
            AtomicLong repliesToSend = new AtomicLong(-1);
            Thread poller = Thread.ofPlatform().name("zstack-poll").start(() -> {
                stack.start();
                boolean stalled = false;
                long giveUpAt = Long.MAX_VALUE;
                while (true) {
                    long target = repliesToSend.get();
                    if (target >= 0) {
                        long now = System.nanoTime();
                        giveUpAt = Math.min(giveUpAt, now + 5_000_000_000L);
                        if (stack.ip().counters().icmpEchoRepliesSent >= target || now - giveUpAt > 0) {
                            break;
                        }
                    }
                    if (!stalled && stack.ip().counters().icmpEchoRepliesSent == 99) {
                        // away from the loop for 100 ms before the last request, as a descheduled loop on a busy
                        // machine is: the request waits in the tap and is answered late, not lost
                        stalled = true;
                        LockSupport.parkNanos(100_000_000L);
                    }
                    if (stack.poll(System.nanoTime()) == 0) {
                        Thread.onSpinWait();
                    }
                }
            });
            Command.Result ping = null;
            try {
                // -w: wait for every reply (up to 30 s); without it ping exits max(2 RTT, interval) after its last
                // request and counts a reply that is merely late as lost
                ping = net.namespace.execResult(60, "ping", "-c", "100", "-i", "0.01", "-w", "30", "-s", "200",
                        "10.77.0.2");
            } finally {
                Matcher sent = ping == null ? null : SUMMARY.matcher(ping.output());
                repliesToSend.set(sent != null && sent.find() ? Long.parseLong(sent.group(1)) : 0);
                poller.join();
            }
            Matcher m = SUMMARY.matcher(ping.output());
            assertTrue(m.find(), ping.output());
            assertTrue(Integer.parseInt(m.group(2)) >= 100, ping.output());
            // With -w ping sends on while it waits for its 100th reply, and exits as soon as that reply is read: the
            // replies to the requests it sent during the stall count only if they reached its socket before it read
            // the 100th, a race between the tap's writes and ping's wake-up. So "answered" is checked where it is
            // certain: the stack sent a reply to every request ping sent.
            assertEquals(Long.parseLong(m.group(1)), stack.ip().counters().icmpEchoRepliesSent,
                    ping.output() + stack.ip().counters());
            assertTrue(stack.ip().counters().arpRepliesSent >= 1, stack.ip().counters().toString());
            String neighbours = net.namespace.exec("ip", "neigh", "show", "10.77.0.2");
            assertTrue(neighbours.contains(net.device.macAddress().toString()), neighbours);
        }
    }
}
