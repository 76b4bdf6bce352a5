package io.zstack.channel;

import io.netty.channel.ChannelOption;
import io.netty.channel.ServerChannelRecvByteBufAllocator;
import io.netty.channel.socket.ServerSocketChannelConfig;
import io.netty.util.NetUtil;
import io.zstack.tcp.TcpSettings;
import java.util.Map;

/**
 * Options of a {@link ZStackServerSocketChannel}. SO_BACKLOG bounds each loop's accept queue; SO_RCVBUF is the
 * receive buffer accepted connections start with (it decides the window scale in their SYN-ACK).
 */
public final class ZStackServerSocketChannelConfig extends AbstractZStackChannelConfig<ZStackServerSocketChannelConfig>
        implements ServerSocketChannelConfig {
    /** What the options set on this server make of the stack's own defaults (for its getters). */
    private volatile TcpSettings listenerSettings = TcpSettings.defaults();

    ZStackServerSocketChannelConfig(ZStackServerSocketChannel channel) {
        super(channel, new ServerChannelRecvByteBufAllocator(), true);
        setBacklog(NetUtil.SOMAXCONN);
    }

    @Override
    TcpSettings settings() {
        return listenerSettings;
    }

    @Override
    void update(TcpSettings changed) {
        listenerSettings = changed;
    }

    /** The settings of one loop's listener: that group's {@code defaults} under the options set on this server. */
    TcpSettings listenerSettings(TcpSettings defaults) {
        return over(defaults);
    }

    @Override
    public Map<ChannelOption<?>, Object> getOptions() {
        return getOptions(super.getOptions(), ChannelOption.SO_BACKLOG);
    }

    @SuppressWarnings("unchecked")
    @Override
    public <T> T getOption(ChannelOption<T> option) {
        if (option == ChannelOption.SO_BACKLOG) {
            return (T) Integer.valueOf(getBacklog());
        }
        return super.getOption(option);
    }

    @Override
    public <T> boolean setOption(ChannelOption<T> option, T value) {
        if (option == ChannelOption.SO_BACKLOG) {
            validate(option, value);
            setBacklog((Integer) value);
            return true;
        }
        return super.setOption(option, value);
    }

    @Override
    public int getBacklog() {
        return listenerSettings.acceptBacklog();
    }

    @Override
    public ZStackServerSocketChannelConfig setBacklog(int backlog) {
        if (backlog < 0) {
            throw new IllegalArgumentException("backlog: " + backlog);
        }
        // as listen(2): 0 means a small default, not "refuse everything"
        int accepted = backlog == 0 ? NetUtil.SOMAXCONN : backlog;
        edit(ChannelOption.SO_BACKLOG, b -> b.acceptBacklog(accepted));
        return this;
    }
}
