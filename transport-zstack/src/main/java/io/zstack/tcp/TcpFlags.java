package io.zstack.tcp;

/** TCP header flag bits (RFC 9293 §3.1), as they sit in the low byte of the flags field. */
public final class TcpFlags {
    public static final int FIN = 0x01;
    public static final int SYN = 0x02;
    public static final int RST = 0x04;
    public static final int PSH = 0x08;
    public static final int ACK = 0x10;
    public static final int URG = 0x20;
    public static final int ECE = 0x40;
    public static final int CWR = 0x80;

    private TcpFlags() {
    }

    public static String toString(int flags) {
        StringBuilder s = new StringBuilder();
        String[] names = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
        for (int i = 0; i < names.length; i++) {
            if ((flags & (1 << i)) != 0) {
                if (s.length() > 0) {
                    s.append('|');
                }
                s.append(names[i]);
            }
        }
        return s.length() == 0 ? "none" : s.toString();
    }
}
