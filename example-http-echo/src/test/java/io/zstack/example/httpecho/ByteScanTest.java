package io.zstack.example.httpecho;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ByteScanTest {
    /**
     * Bytes that trip word-at-a-time tricks: the ones searched for, their neighbours (a borrow from a byte one above
     * the target flags it wrongly), zero and bytes with the high bit set.
     */
    private static final byte[] ALPHABET = {'\r', '\n', '\u000b', '\u000c', ' ', '!', ':', ';', 0, 1, (byte) 0x80,
            (byte) 0x8a, (byte) 0xff, 'a'};

    @Test
    void indexOfAgreesWithAByteLoopAtEveryRange() {
        Random random = new Random(20261206);
        for (int round = 0; round < 300; round++) {
            byte[] a = randomBytes(random, 1 + random.nextInt(40));
            for (byte b : new byte[] {'\n', ' ', ':', '\r', 0, (byte) 0x80, (byte) 0xff}) {
                for (int from = 0; from <= a.length; from++) {
                    for (int to = from; to <= a.length; to++) {
                        assertEquals(naiveIndexOf(a, b, from, to), ByteScan.indexOf(a, b, from, to),
                                () -> "byte " + b + " in " + java.util.Arrays.toString(a));
                    }
                }
            }
        }
    }

    @Test
    void indexOfFindsTheFirstOfTwoMatchesInOneWord() {
        byte[] a = "abc::efgh".getBytes(StandardCharsets.US_ASCII);
        assertEquals(3, ByteScan.indexOf(a, (byte) ':', 0, a.length));
        assertEquals(4, ByteScan.indexOf(a, (byte) ':', 4, a.length));
        assertEquals(-1, ByteScan.indexOf(a, (byte) ':', 5, a.length));
        assertEquals(-1, ByteScan.indexOf(a, (byte) ':', 0, 3)); // the end bounds the search inside a word
    }

    @Test
    void headEndAgreesWithAByteLoopWhenTheHeadArrivesInPieces() {
        Random random = new Random(61220);
        for (int round = 0; round < 3000; round++) {
            byte[] a = randomBytes(random, 1 + random.nextInt(48));
            int expected = naiveHeadEnd(a, a.length);
            // fed in pieces, as readHead does: a search from where the last piece ended, until the end shows
            int seen = 0;
            int found = -1;
            while (seen < a.length && found < 0) {
                int to = Math.min(a.length, seen + 1 + random.nextInt(9));
                found = ByteScan.headEnd(a, seen, to);
                if (found < 0) {
                    assertEquals(-1, naiveHeadEnd(a, to));
                }
                seen = to;
            }
            assertEquals(expected, found, () -> java.util.Arrays.toString(a));
        }
    }

    @Test
    void headEndOfARealRequestSplitInsideItsTerminator() {
        byte[] a = "POST /echo HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi".getBytes(StandardCharsets.US_ASCII);
        int end = a.length - 2;
        for (int split = 0; split <= a.length; split++) {
            int first = ByteScan.headEnd(a, 0, split);
            int found = first >= 0 ? first : ByteScan.headEnd(a, split, a.length);
            assertEquals(end, found, "split at " + split);
        }
    }

    private static byte[] randomBytes(Random random, int n) {
        byte[] a = new byte[n];
        for (int i = 0; i < n; i++) {
            a[i] = ALPHABET[random.nextInt(ALPHABET.length)];
        }
        return a;
    }

    private static int naiveIndexOf(byte[] a, byte b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (a[i] == b) {
                return i;
            }
        }
        return -1;
    }

    private static int naiveHeadEnd(byte[] a, int to) {
        for (int i = 0; i + 3 < to; i++) {
            if (a[i] == '\r' && a[i + 1] == '\n' && a[i + 2] == '\r' && a[i + 3] == '\n') {
                return i + 4;
            }
        }
        return -1;
    }
}
