package io.zstack.channel;

import io.zstack.device.FaultConfig;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;

/**
 * Reads {@link ZStackConfig.Builder#linkFaults}'s text, netem-like: comma-separated {@code key=value} pairs, each key
 * at most once.
 *
 * <pre>
 *   drop=P                  a frame is lost with probability P (0 to 1)
 *   duplicate=P             delivered twice
 *   corrupt=P               one bit of its IPv4 packet flipped (the checksums then catch it); direction=rx only
 *   reorder=P[/GAP]         held back until GAP later frames have passed (default 3; at most 10 ms)
 *   delay=[P:]TIME[+JITTER] held TIME longer (with probability P, default 1), plus up to JITTER more
 *   rate=N/TIME             at most N frames per TIME, the rest dropped
 *   max-frame=BYTES         longer frames dropped
 *   direction=both|rx|tx    the path the faults apply to (default both)
 *   seed=N                  the random seed (default 0; loop i draws from N + i, so runs replay)
 * </pre>
 *
 * TIME is a number with a unit: {@code ns}, {@code us}, {@code ms} or {@code s}.
 */
final class LinkFaults {
    private static final long DEFAULT_REORDER_TIMEOUT_NANOS = 10_000_000;
    private static final int DEFAULT_REORDER_GAP = 3;

    private LinkFaults() {
    }

    /** The faults {@code spec} describes; IllegalArgumentException naming what is wrong otherwise. */
    static FaultConfig parse(String spec) {
        FaultConfig.Builder b = FaultConfig.builder();
        Set<String> seen = new HashSet<>();
        for (String part : spec.split(",")) {
            String item = part.trim();
            if (item.isEmpty()) {
                continue;
            }
            int eq = item.indexOf('=');
            if (eq <= 0) {
                throw invalid(spec, "'" + item + "' is not key=value");
            }
            String key = item.substring(0, eq).trim().toLowerCase(Locale.ROOT);
            String value = item.substring(eq + 1).trim();
            if (!seen.add(key)) {
                throw invalid(spec, key + " given twice");
            }
            try {
                switch (key) {
                    case "drop" -> b.drop(probability(value));
                    case "duplicate" -> b.duplicate(probability(value));
                    case "corrupt" -> b.corrupt(probability(value));
                    case "reorder" -> {
                        int slash = value.indexOf('/');
                        double p = probability(slash < 0 ? value : value.substring(0, slash));
                        int gap = slash < 0 ? DEFAULT_REORDER_GAP : Integer.parseInt(value.substring(slash + 1).trim());
                        b.reorder(p, gap, DEFAULT_REORDER_TIMEOUT_NANOS);
                    }
                    case "delay" -> {
                        int colon = value.indexOf(':');
                        double p = colon < 0 ? 1 : probability(value.substring(0, colon));
                        String times = colon < 0 ? value : value.substring(colon + 1);
                        int plus = times.indexOf('+');
                        long delay = nanos(plus < 0 ? times : times.substring(0, plus));
                        long jitter = plus < 0 ? 0 : nanos(times.substring(plus + 1));
                        b.delay(p, delay, jitter);
                    }
                    case "rate" -> {
                        int slash = value.indexOf('/');
                        if (slash < 0) {
                            throw new IllegalArgumentException("rate is N/TIME, e.g. 1000/1ms");
                        }
                        int frames = Integer.parseInt(value.substring(0, slash).trim());
                        b.rateLimit(frames, nanos(value.substring(slash + 1)));
                    }
                    case "max-frame" -> b.maxFrameBytes(Integer.parseInt(value));
                    case "direction" -> b.direction(switch (value.toLowerCase(Locale.ROOT)) {
                        case "both" -> FaultConfig.Direction.BOTH;
                        case "rx" -> FaultConfig.Direction.RECEIVE;
                        case "tx" -> FaultConfig.Direction.TRANSMIT;
                        default -> throw new IllegalArgumentException("direction is both, rx or tx");
                    });
                    case "seed" -> b.seed(Long.parseLong(value));
                    default -> throw new IllegalArgumentException("unknown key; the keys are drop, duplicate, "
                            + "corrupt, reorder, delay, rate, max-frame, direction, seed");
                }
            } catch (IllegalArgumentException e) {
                // NumberFormatException included: say which item, then why
                throw invalid(spec, "'" + item + "': " + e.getMessage());
            }
        }
        FaultConfig faults;
        try {
            faults = b.build();
        } catch (IllegalArgumentException e) {
            throw invalid(spec, e.getMessage());
        }
        if (faults.corrupt() > 0 && faults.direction() != FaultConfig.Direction.RECEIVE) {
            // a frame damaged on its way out reaches a peer that may take its checksums on trust: ZStack over memif
            // does (shared memory has no wire), and would hand its application the damage
            throw invalid(spec, "corrupt needs direction=rx (corrupt what arrives; impair both ends for both ways)");
        }
        return faults;
    }

    private static double probability(String text) {
        double p = Double.parseDouble(text.trim());
        if (!(p >= 0 && p <= 1)) {
            throw new IllegalArgumentException("a probability is between 0 and 1");
        }
        return p;
    }

    /** A duration with its unit: 250ns, 50us, 2ms, 1s. */
    private static long nanos(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        long unit;
        String number;
        if (t.endsWith("ns")) {
            unit = 1;
            number = t.substring(0, t.length() - 2);
        } else if (t.endsWith("us")) {
            unit = 1_000;
            number = t.substring(0, t.length() - 2);
        } else if (t.endsWith("ms")) {
            unit = 1_000_000;
            number = t.substring(0, t.length() - 2);
        } else if (t.endsWith("s")) {
            unit = 1_000_000_000;
            number = t.substring(0, t.length() - 1);
        } else {
            throw new IllegalArgumentException("a time needs its unit (ns, us, ms or s): " + text.trim());
        }
        double value = Double.parseDouble(number.trim());
        if (!(value >= 0)) {
            throw new IllegalArgumentException("a time is not negative: " + text.trim());
        }
        return Math.round(value * unit);
    }

    private static IllegalArgumentException invalid(String spec, String why) {
        return new IllegalArgumentException("link faults \"" + spec + "\": " + why);
    }
}
