package io.zstack.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

/**
 * A latency beyond the load generator's histogram (60 s) is recorded at its top rather than thrown: a request in
 * flight while the harness's --paired stopped its pair for 90 s threw out of the connection's handler, which closed
 * every connection and left the pair answering nothing for the rest of the run.
 */
class LoadGeneratorLatencyTest {
    @Test
    void aLatencyLongerThanTheHistogramIsRecordedAtItsTop() {
        Histogram h = new Histogram(LoadGenerator.LATENCY_RANGE_NANOS, 3);
        LoadGenerator.recordLatency(h, TimeUnit.SECONDS.toNanos(90));
        LoadGenerator.recordLatency(h, 25_000);
        assertEquals(2, h.getTotalCount());
        assertTrue(h.getMaxValue() >= LoadGenerator.LATENCY_RANGE_NANOS * 0.999 && h.getMaxValue() < TimeUnit.SECONDS.toNanos(61),
                "the 90 s latency lands at the histogram's 60 s top: " + h.getMaxValue());
        assertTrue(h.getMinValue() <= 25_100, "the ordinary latency is recorded as it is: " + h.getMinValue());
    }

    @Test
    void aNegativeLatencyIsRecordedAsZero() {
        Histogram h = new Histogram(LoadGenerator.LATENCY_RANGE_NANOS, 3);
        LoadGenerator.recordLatency(h, -5);
        assertEquals(0, h.getMaxValue());
    }
}
