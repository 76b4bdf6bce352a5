package io.zstack.channel;

import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultChannelConfig;
import io.netty.channel.MessageSizeEstimator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.WriteBufferWaterMark;
import io.zstack.tcp.TcpSettings;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * What the configs of ZStack's server and socket channels share: the options both keep in a {@link TcpSettings}
 * (SO_RCVBUF), those both accept and only report (SO_REUSEADDR, performance preferences), AUTO_READ turned off
 * cancelling a pending read, and Netty's setters returning the concrete config {@code C}.
 *
 * <p>A channel's settings start from its group's TCP defaults ({@link ZStackTcpDefaults}), which it learns only
 * when it is registered or listens: every TCP option set on it is therefore kept as an edit, applied at once and
 * again over the group's defaults then ({@link #over}).
 */
abstract class AbstractZStackChannelConfig<C extends AbstractZStackChannelConfig<C>> extends DefaultChannelConfig {
    private final AbstractZStackChannel channel;
    private volatile boolean reuseAddress;

    AbstractZStackChannelConfig(AbstractZStackChannel channel, RecvByteBufAllocator allocator, boolean reuseAddress) {
        super(channel, allocator);
        this.channel = channel;
        this.reuseAddress = reuseAddress;
    }

    /** The settings the channel's connections take (a server's: what its listeners give new connections). */
    abstract TcpSettings settings();

    /** Installs changed settings (an immutable value) where the channel's connections will read them. */
    abstract void update(TcpSettings changed);

    /** The TCP options set on this channel, by option: the last value of each counts. */
    private final Map<ChannelOption<?>, Consumer<TcpSettings.Builder>> edits = new LinkedHashMap<>();

    /** Sets a TCP option: now, and over the group's defaults when the channel learns them. */
    final void edit(ChannelOption<?> option, Consumer<TcpSettings.Builder> edit) {
        synchronized (edits) {
            TcpSettings.Builder changed = settings().toBuilder();
            edit.accept(changed);
            update(changed.build());
            edits.remove(option); // re-inserted last: edits replay in the order they were last made
            edits.put(option, edit);
        }
    }

    /** {@code defaults} with every option set on this channel applied over them. */
    final TcpSettings over(TcpSettings defaults) {
        TcpSettings.Builder b = defaults.toBuilder();
        synchronized (edits) {
            edits.values().forEach(e -> e.accept(b));
        }
        return b.build();
    }

    @SuppressWarnings("unchecked")
    private C self() {
        return (C) this;
    }

    @Override
    public Map<ChannelOption<?>, Object> getOptions() {
        return getOptions(super.getOptions(), ChannelOption.SO_RCVBUF, ChannelOption.SO_REUSEADDR);
    }

    @SuppressWarnings("unchecked")
    @Override
    public <T> T getOption(ChannelOption<T> option) {
        if (option == ChannelOption.SO_RCVBUF) {
            return (T) Integer.valueOf(getReceiveBufferSize());
        }
        if (option == ChannelOption.SO_REUSEADDR) {
            return (T) Boolean.valueOf(isReuseAddress());
        }
        return super.getOption(option);
    }

    @Override
    public <T> boolean setOption(ChannelOption<T> option, T value) {
        validate(option, value);
        if (option == ChannelOption.SO_RCVBUF) {
            setReceiveBufferSize((Integer) value);
        } else if (option == ChannelOption.SO_REUSEADDR) {
            setReuseAddress((Boolean) value);
        } else {
            return super.setOption(option, value);
        }
        return true;
    }

    @Override
    protected void autoReadCleared() {
        channel.clearReadPending(); // AUTO_READ off stops reading now, not after the read already asked for
    }

    public int getReceiveBufferSize() {
        return settings().receiveBufferBytes();
    }

    public C setReceiveBufferSize(int receiveBufferSize) {
        if (receiveBufferSize <= 0) {
            throw new IllegalArgumentException("SO_RCVBUF must be positive: " + receiveBufferSize);
        }
        edit(ChannelOption.SO_RCVBUF, b -> b.receiveBufferBytes(receiveBufferSize));
        return self();
    }

    /** SO_REUSEADDR: the stack always lets a new connection reuse a 4-tuple in TIME_WAIT; reported as set. */
    public boolean isReuseAddress() {
        return reuseAddress;
    }

    public C setReuseAddress(boolean reuseAddress) {
        this.reuseAddress = reuseAddress;
        return self();
    }

    public C setPerformancePreferences(int connectionTime, int latency, int bandwidth) {
        return self();
    }

    @Override
    public C setConnectTimeoutMillis(int connectTimeoutMillis) {
        super.setConnectTimeoutMillis(connectTimeoutMillis);
        return self();
    }

    @Override
    @Deprecated
    public C setMaxMessagesPerRead(int maxMessagesPerRead) {
        super.setMaxMessagesPerRead(maxMessagesPerRead);
        return self();
    }

    @Override
    public C setWriteSpinCount(int writeSpinCount) {
        super.setWriteSpinCount(writeSpinCount);
        return self();
    }

    @Override
    public C setAllocator(ByteBufAllocator allocator) {
        super.setAllocator(allocator);
        return self();
    }

    @Override
    public C setRecvByteBufAllocator(RecvByteBufAllocator allocator) {
        super.setRecvByteBufAllocator(allocator);
        return self();
    }

    @Override
    public C setAutoRead(boolean autoRead) {
        super.setAutoRead(autoRead);
        return self();
    }

    @Override
    public C setAutoClose(boolean autoClose) {
        super.setAutoClose(autoClose);
        return self();
    }

    @Override
    @Deprecated
    public C setWriteBufferHighWaterMark(int writeBufferHighWaterMark) {
        super.setWriteBufferHighWaterMark(writeBufferHighWaterMark);
        return self();
    }

    @Override
    @Deprecated
    public C setWriteBufferLowWaterMark(int writeBufferLowWaterMark) {
        super.setWriteBufferLowWaterMark(writeBufferLowWaterMark);
        return self();
    }

    @Override
    public C setWriteBufferWaterMark(WriteBufferWaterMark writeBufferWaterMark) {
        super.setWriteBufferWaterMark(writeBufferWaterMark);
        return self();
    }

    @Override
    public C setMessageSizeEstimator(MessageSizeEstimator estimator) {
        super.setMessageSizeEstimator(estimator);
        return self();
    }
}
