package io.zstack.channel;

import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.SocketChannelConfig;
import io.zstack.tcp.TcpSettings;
import java.util.Map;

/**
 * Options of a {@link ZStackSocketChannel}, kept in the {@link TcpSettings} its connection reads: set before
 * connecting they shape the handshake (buffer sizes, window scale); set later they apply from the next segment.
 */
public final class ZStackSocketChannelConfig extends AbstractZStackChannelConfig<ZStackSocketChannelConfig>
        implements SocketChannelConfig {
    private static final long S = 1_000_000_000L;
    private final ZStackSocketChannel channel;
    private volatile TcpSettings settings;
    private volatile boolean allowHalfClosure;
    private volatile boolean copyMode;
    private volatile boolean allocatorChosen;

    ZStackSocketChannelConfig(ZStackSocketChannel channel, TcpSettings settings) {
        super(channel, new AdaptiveRecvByteBufAllocator(), false);
        this.channel = channel;
        this.settings = settings; // an accepted child's: those its connection was created with
        setTcpNoDelay(true); // Netty's transports default to TCP_NODELAY
    }

    @Override
    TcpSettings settings() {
        return settings;
    }

    @Override
    void update(TcpSettings changed) {
        settings = changed;
        channel.settingsChanged(changed);
    }

    /** A client takes its group's defaults under the options set on it. */
    void rebase(TcpSettings defaults) {
        update(over(defaults));
    }

    boolean allocatorChosen() {
        return allocatorChosen;
    }

    @Override
    public Map<ChannelOption<?>, Object> getOptions() {
        return getOptions(super.getOptions(), ChannelOption.SO_SNDBUF, ChannelOption.TCP_NODELAY,
                ChannelOption.SO_KEEPALIVE, ChannelOption.SO_LINGER, ChannelOption.IP_TOS,
                ChannelOption.ALLOW_HALF_CLOSURE,
                ZStackChannelOption.DELAYED_ACK, ZStackChannelOption.CONGESTION_CONTROL,
                ZStackChannelOption.TCP_KEEPIDLE, ZStackChannelOption.TCP_KEEPINTVL, ZStackChannelOption.TCP_KEEPCNT,
                ZStackChannelOption.TCP_RTO_MIN_US, ZStackChannelOption.COPY_MODE);
    }

    @SuppressWarnings("unchecked")
    @Override
    public <T> T getOption(ChannelOption<T> option) {
        if (option == ChannelOption.SO_SNDBUF) {
            return (T) Integer.valueOf(getSendBufferSize());
        }
        if (option == ChannelOption.TCP_NODELAY) {
            return (T) Boolean.valueOf(isTcpNoDelay());
        }
        if (option == ChannelOption.SO_KEEPALIVE) {
            return (T) Boolean.valueOf(isKeepAlive());
        }
        if (option == ChannelOption.SO_LINGER) {
            return (T) Integer.valueOf(getSoLinger());
        }
        if (option == ChannelOption.IP_TOS) {
            return (T) Integer.valueOf(getTrafficClass());
        }
        if (option == ChannelOption.ALLOW_HALF_CLOSURE) {
            return (T) Boolean.valueOf(isAllowHalfClosure());
        }
        if (option == ZStackChannelOption.DELAYED_ACK) {
            return (T) Boolean.valueOf(settings.delayedAck());
        }
        if (option == ZStackChannelOption.CONGESTION_CONTROL) {
            return (T) ZStackCongestionControl.of(settings.congestionControl());
        }
        if (option == ZStackChannelOption.TCP_KEEPIDLE) {
            return (T) Integer.valueOf((int) (settings.keepAliveIdleNanos() / S));
        }
        if (option == ZStackChannelOption.TCP_KEEPINTVL) {
            return (T) Integer.valueOf((int) (settings.keepAliveIntervalNanos() / S));
        }
        if (option == ZStackChannelOption.TCP_KEEPCNT) {
            return (T) Integer.valueOf(settings.keepAliveProbes());
        }
        if (option == ZStackChannelOption.TCP_RTO_MIN_US) {
            return (T) Integer.valueOf((int) (settings.minRtoNanos() / 1000));
        }
        if (option == ZStackChannelOption.COPY_MODE) {
            return (T) Boolean.valueOf(copyMode);
        }
        return super.getOption(option);
    }

    @Override
    public <T> boolean setOption(ChannelOption<T> option, T value) {
        validate(option, value);
        if (option == ChannelOption.SO_SNDBUF) {
            setSendBufferSize((Integer) value);
        } else if (option == ChannelOption.TCP_NODELAY) {
            setTcpNoDelay((Boolean) value);
        } else if (option == ChannelOption.SO_KEEPALIVE) {
            setKeepAlive((Boolean) value);
        } else if (option == ChannelOption.SO_LINGER) {
            setSoLinger((Integer) value);
        } else if (option == ChannelOption.IP_TOS) {
            setTrafficClass((Integer) value);
        } else if (option == ChannelOption.ALLOW_HALF_CLOSURE) {
            setAllowHalfClosure((Boolean) value);
        } else if (option == ZStackChannelOption.DELAYED_ACK) {
            boolean on = (Boolean) value;
            edit(option, b -> b.delayedAck(on));
        } else if (option == ZStackChannelOption.CONGESTION_CONTROL) {
            ZStackCongestionControl algorithm = (ZStackCongestionControl) value;
            edit(option, b -> b.congestionControl(algorithm.algorithm()));
            channel.congestionControlChanged();
        } else if (option == ZStackChannelOption.TCP_KEEPIDLE) {
            long nanos = positive(option, (Integer) value) * S;
            edit(option, b -> b.keepAliveIdleNanos(nanos));
            channel.keepAliveChanged();
        } else if (option == ZStackChannelOption.TCP_KEEPINTVL) {
            long nanos = positive(option, (Integer) value) * S;
            edit(option, b -> b.keepAliveIntervalNanos(nanos));
            channel.keepAliveChanged();
        } else if (option == ZStackChannelOption.TCP_KEEPCNT) {
            int probes = (int) positive(option, (Integer) value);
            edit(option, b -> b.keepAliveProbes(probes));
        } else if (option == ZStackChannelOption.TCP_RTO_MIN_US) {
            long nanos = positive(option, (Integer) value) * 1000;
            if (nanos > settings.maxRtoNanos()) {
                throw new IllegalArgumentException(option + " must not exceed the maximum RTO ("
                        + settings.maxRtoNanos() / 1000 + " us): " + value);
            }
            edit(option, b -> b.minRtoNanos(nanos));
            channel.minRtoChanged();
        } else if (option == ZStackChannelOption.COPY_MODE) {
            copyMode = (Boolean) value;
        } else {
            return super.setOption(option, value);
        }
        return true;
    }

    private static long positive(ChannelOption<?> option, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(option + " must be positive: " + value);
        }
        return value;
    }

    boolean isCopyMode() {
        return copyMode;
    }

    @Override
    public boolean isTcpNoDelay() {
        return !settings.nagle();
    }

    @Override
    public ZStackSocketChannelConfig setTcpNoDelay(boolean tcpNoDelay) {
        edit(ChannelOption.TCP_NODELAY, b -> b.nagle(!tcpNoDelay));
        return this;
    }

    @Override
    public int getSoLinger() {
        long linger = settings.lingerNanos();
        return linger < 0 ? -1 : (int) (linger / S);
    }

    @Override
    public ZStackSocketChannelConfig setSoLinger(int soLinger) {
        long nanos = soLinger < 0 ? -1 : soLinger * S;
        edit(ChannelOption.SO_LINGER, b -> b.lingerNanos(nanos));
        return this;
    }

    @Override
    public int getSendBufferSize() {
        return settings.sendBufferBytes();
    }

    @Override
    public ZStackSocketChannelConfig setSendBufferSize(int sendBufferSize) {
        if (sendBufferSize <= 0) {
            throw new IllegalArgumentException("SO_SNDBUF must be positive: " + sendBufferSize);
        }
        edit(ChannelOption.SO_SNDBUF, b -> b.sendBufferBytes(sendBufferSize).sendBufferFixed(true));
        return this;
    }

    @Override
    public boolean isKeepAlive() {
        return settings.keepAlive();
    }

    @Override
    public ZStackSocketChannelConfig setKeepAlive(boolean keepAlive) {
        edit(ChannelOption.SO_KEEPALIVE, b -> b.keepAlive(keepAlive));
        channel.keepAliveChanged();
        return this;
    }

    /** IP_TOS is accepted and reported, but the stack sends every packet with TOS 0. */
    private volatile int trafficClass;

    @Override
    public int getTrafficClass() {
        return trafficClass;
    }

    @Override
    public ZStackSocketChannelConfig setTrafficClass(int trafficClass) {
        this.trafficClass = trafficClass;
        return this;
    }

    @Override
    public boolean isAllowHalfClosure() {
        return allowHalfClosure;
    }

    @Override
    public ZStackSocketChannelConfig setAllowHalfClosure(boolean allowHalfClosure) {
        this.allowHalfClosure = allowHalfClosure;
        return this;
    }

    @Override
    public ZStackSocketChannelConfig setAllocator(ByteBufAllocator allocator) {
        allocatorChosen = true;
        super.setAllocator(allocator);
        return this;
    }

    /** The loop's mbuf allocator, unless the user chose one. */
    void defaultAllocator(ByteBufAllocator allocator) {
        if (!allocatorChosen) {
            super.setAllocator(allocator);
        }
    }
}
