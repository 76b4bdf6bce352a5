package io.zstack.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.tcp.cc.CongestionAlgorithm;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import org.junit.jupiter.api.Test;

/** TcpSettings is a value: no field can change, a copy changes only what its builder was told, defaults are Linux's. */
class TcpSettingsTest {
    @Test
    void everyFieldIsPrivateAndFinalAndTheClassIsNotCloneable() {
        for (Field f : TcpSettings.class.getDeclaredFields()) {
            assertTrue(Modifier.isPrivate(f.getModifiers()) && Modifier.isFinal(f.getModifiers()), f.getName());
        }
        assertFalse(Cloneable.class.isAssignableFrom(TcpSettings.class));
    }

    /** Each setting changed alone through toBuilder(): the copy differs in that setting only, the original in none. */
    @Test
    void aCopyChangesOnlyTheSettingItsBuilderWasGiven() throws Exception {
        TcpSettings original = TcpSettings.defaults();
        int settings = 0;
        for (Field f : TcpSettings.class.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers())) {
                continue;
            }
            settings++;
            Object changedValue = otherThan(TcpSettings.class.getMethod(f.getName()).invoke(original));
            TcpSettings.Builder b = original.toBuilder();
            TcpSettings.Builder.class.getMethod(f.getName(), f.getType()).invoke(b, changedValue);
            TcpSettings copy = b.build();
            for (Field g : TcpSettings.class.getDeclaredFields()) {
                if (Modifier.isStatic(g.getModifiers())) {
                    continue;
                }
                Method accessor = TcpSettings.class.getMethod(g.getName());
                if (g.equals(f)) {
                    assertEquals(changedValue, accessor.invoke(copy), g.getName());
                    assertNotEquals(changedValue, accessor.invoke(original), g.getName() + " of the original");
                } else {
                    assertEquals(accessor.invoke(original), accessor.invoke(copy), g.getName() + " beside " + f.getName());
                }
            }
        }
        assertEquals(32, settings, "every setting the mutable class had");
    }

    private static Object otherThan(Object value) {
        return switch (value) {
            case Integer i -> i + 1;
            case Long l -> l + 1;
            case Boolean b -> !b;
            case CongestionAlgorithm c -> c == CongestionAlgorithm.CUBIC ? CongestionAlgorithm.NEW_RENO
                    : CongestionAlgorithm.CUBIC;
            default -> throw new AssertionError("a setting of an unexpected type: " + value);
        };
    }

    @Test
    void defaultsAreLinuxsWhereRfcsLeaveAChoice() {
        TcpSettings d = TcpSettings.defaults();
        assertSame(d, TcpSettings.defaults(), "one shared value");
        assertEquals(256 * 1024, d.receiveBufferBytes());
        assertEquals(256 * 1024, d.sendBufferBytes());
        assertEquals(200_000_000L, d.minRtoNanos());
        assertEquals(1_000_000_000L, d.initialRtoNanos());
        assertEquals(40_000_000L, d.delayedAckTimeoutNanos());
        assertEquals(6, d.synRetries());
        assertEquals(15, d.maxRetransmissions());
        assertEquals(65536, d.maxTimeWaits());
        assertEquals(-1, d.lingerNanos());
        assertEquals(CongestionAlgorithm.CUBIC, d.congestionControl());
        assertTrue(d.nagle() && d.delayedAck() && d.sack() && d.timestamps() && d.windowScaling() && d.synCookies());
        assertFalse(d.keepAlive());
    }

    @Test
    void buffersMustBePositiveAndAnAlgorithmGiven() {
        assertThrows(IllegalArgumentException.class, () -> TcpSettings.builder().receiveBufferBytes(0));
        assertThrows(IllegalArgumentException.class, () -> TcpSettings.builder().sendBufferBytes(-1));
        assertThrows(NullPointerException.class, () -> TcpSettings.builder().congestionControl(null));
    }
}
