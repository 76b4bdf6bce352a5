package io.zstack.tcp;

/** Why a connection ended other than by an orderly close; maps to the exceptions Netty users expect. */
public enum TcpError {
    /** The peer answered our SYN with RST (ECONNREFUSED). */
    REFUSED,
    /** The peer reset an established connection (ECONNRESET). */
    RESET,
    /** Retransmissions, SYNs or keepalive probes went unanswered (ETIMEDOUT). */
    TIMED_OUT,
    /** ICMP or ARP said the peer cannot be reached (EHOSTUNREACH). */
    UNREACHABLE,
    /** We aborted it: SO_LINGER 0, close with unread data, or the stack shutting down (ECONNABORTED). */
    ABORTED
}
