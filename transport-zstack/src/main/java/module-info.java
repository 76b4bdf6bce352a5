/**
 * ZStack: a Netty 4.1 transport over a userspace TCP/IP stack that busy-polls DPDK ports.
 *
 * <p>The API is {@code io.zstack.channel}: the event loop group, the channels, their options, {@code ZStackConfig}
 * (the one configuration entry point: device, address, TCP defaults) and {@code ZStack} (whether DPDK can run
 * here). Every other package is the stack's inside, open to the transport's own tests only:
 *
 * <ul>
 *   <li>{@code io.zstack.dpdk} is not a second API. Its types exist for the layers above: they deal in raw mbuf and
 *   mempool addresses whose offsets come from the native shim's layout table, and they assume the threading and
 *   ownership rules of the stack that calls them (one polling thread per queue, every mbuf returned to its pool).
 *   What a user chooses about DPDK (the port's devargs, ring sizes, offloads, MTU, EAL options such as hugepages or a
 *   PCI allow-list) is said through {@code ZStackDevices} in the API package.</li>
 *   <li>{@code buffer}, {@code wire}, {@code device}, {@code ip}, {@code tcp}, {@code stack} and {@code util}: the
 *   stack's layers (see ARCHITECTURE.md). They change as the stack does.</li>
 *   <li>{@code shm}: the cross-process path's shared region, rings and rendezvous; configured through
 *   {@code ZStackConfig.Builder.crossProcess}.</li>
 * </ul>
 *
 * <p>On the class path (no module path) nothing changes for a Netty application: it uses the same
 * {@code io.zstack.channel} types; the other packages are reachable there only because the class path has no
 * encapsulation, and are no more an API there than here.
 *
 * <p>Native access: {@code --enable-native-access=io.zstack.transport} on the module path
 * ({@code ALL-UNNAMED} on the class path).
 */
module io.zstack.transport {
    requires transitive io.netty.buffer;
    requires transitive io.netty.common;
    requires transitive io.netty.transport;
    requires java.management;
    // SO_PEERCRED on the cross-process path's Unix sockets (io.zstack.shm.Rendezvous): who the peer process runs as
    requires jdk.net;
    // not used by ZStack itself: Netty's buffers (automatic modules, which read every module of the graph) use
    // sun.misc.Unsafe when jdk.unsupported is resolved, and a module path resolves it only when a module requires it;
    // without it Netty falls back to heap buffers where ZStack's allocator wants direct ones
    requires jdk.unsupported;

    exports io.zstack.channel;
}
