# Sourced by test.sh and demo.sh: checks root, installs what ZStack needs from Debian's packages, and exports
# JAVA_HOME for a JDK 25. Safe to run again: it installs only what is missing.

if [ "$(id -u)" != 0 ]; then
    echo "ZStack's setup, tests and demo need root: DPDK, tap devices and network namespaces. Run with sudo." >&2
    exit 1
fi

zstack_packages=(dpdk libdpdk-dev pkg-config gcc make maven iproute2 iptables iputils-ping curl tcpdump tshark
                 python3-scapy ethtool procps)

zstack_missing=()
for p in "${zstack_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || zstack_missing+=("$p")
done
if [ ${#zstack_missing[@]} -gt 0 ]; then
    echo "setup: installing ${zstack_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${zstack_missing[@]}" >/dev/null
fi

# ZStack needs JDK 25 (java.lang.foreign with Linker.Option.critical); the machine's default java may be older.
zstack_java_version() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }
if [ -z "${JAVA_HOME:-}" ] || [ "$(zstack_java_version "$JAVA_HOME" 2>/dev/null || echo 0)" -lt 25 ] 2>/dev/null; then
    JAVA_HOME=
    for candidate in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*-25-* /usr/lib/jvm/jdk-25*; do
        if [ -x "$candidate/bin/java" ] && [ "$(zstack_java_version "$candidate")" -ge 25 ] 2>/dev/null; then
            JAVA_HOME=$candidate
            break
        fi
    done
    if [ -z "$JAVA_HOME" ]; then
        echo "setup: no JDK 25 found under /usr/lib/jvm. Install one (for example Temurin 25) and set JAVA_HOME." >&2
        exit 1
    fi
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
# Maven's own libraries call sun.misc.Unsafe, which JDK 25 warns about on every run.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
