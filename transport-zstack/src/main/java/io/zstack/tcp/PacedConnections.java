package io.zstack.tcp;

import java.util.Arrays;

/**
 * The connections whose pacer holds a segment, checked at every poll of the stack: the loop busy-polls, so a held
 * segment leaves within a loop round of its departure time rather than at the timer wheel's next millisecond tick
 * (at the rates of a veth, a millisecond is hundreds of segments). Arrays, no allocation once grown.
 */
final class PacedConnections {
    private TcpConnection[] waiting = new TcpConnection[8];
    private int count;
    private TcpConnection[] due = new TcpConnection[8];

    /** {@code c}'s pacer holds a segment until its departure time ({@link Pacer#nextDepartureNanos}). */
    void hold(TcpConnection c) {
        if (c.sender.pacer.held) {
            return;
        }
        c.sender.pacer.held = true;
        if (count == waiting.length) {
            waiting = Arrays.copyOf(waiting, count * 2);
            due = Arrays.copyOf(due, count * 2);
        }
        waiting[count++] = c;
    }

    int size() {
        return count;
    }

    /** Lets every connection whose departure time has come send (its output may hold it again). */
    void release(long nowNanos) {
        int n = count;
        if (n == 0) {
            return;
        }
        int kept = 0;
        int dueCount = 0;
        for (int i = 0; i < n; i++) {
            TcpConnection c = waiting[i];
            waiting[i] = null;
            if (c.state == TcpState.CLOSED) {
                c.sender.pacer.held = false;
            } else if (nowNanos >= c.sender.pacer.nextDepartureNanos()) {
                c.sender.pacer.held = false;
                due[dueCount++] = c;
            } else {
                waiting[kept++] = c;
            }
        }
        count = kept;
        for (int i = 0; i < dueCount; i++) {
            TcpConnection c = due[i];
            due[i] = null;
            c.output(nowNanos);
        }
    }
}
