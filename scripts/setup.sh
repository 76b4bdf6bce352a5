# Sourced by test.sh, demo.sh and the other scripts: makes sure it runs as root, installs what ZStack needs from
# Debian's packages, and exports JAVA_HOME for a JDK 25. Safe to run again: it installs only what is missing.
# A script that sets zstack_self (its own absolute path) before sourcing this is run again through sudo when a
# user who is not root starts it, so the same command works for root (no sudo needed) and for a sudoer.

if [ "$(id -u)" != 0 ]; then
    if [ -n "${zstack_self:-}" ] && command -v sudo >/dev/null 2>&1; then
        echo "setup: DPDK, tap devices and network namespaces need root; running again through sudo" >&2
        # sudo drops the environment; a JAVA_HOME the user chose is passed on
        exec sudo -- env ${JAVA_HOME:+JAVA_HOME="$JAVA_HOME"} "$zstack_self" "$@"
    fi
    echo "ZStack's setup, tests and demo need root (DPDK, tap devices, network namespaces)." >&2
    if command -v sudo >/dev/null 2>&1; then
        echo "Run it with sudo: sudo $0" >&2
    else
        echo "sudo is not installed here: run it from a root shell (su -, then $0)." >&2
    fi
    exit 1
fi

# Runs a long, chatty command with its output in a log and prints where it stands every 5 s while that changes,
# every 15 s otherwise, so a first run's downloads never look stuck. On failure the log's last lines are shown.
#   zstack_progress LABEL LOG KIND command...     KIND: apt or maven (what to read progress from)
zstack_progress() {
    local label=$1 log=$2 kind=$3
    shift 3
    "$@" >"$log" 2>&1 &
    local pid=$! start=$SECONDS shown= said=$SECONDS now
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        now=$(zstack_progress_line "$kind" "$log")
        if { [ "$now" != "$shown" ] && [ $((SECONDS - said)) -ge 5 ]; } || [ $((SECONDS - said)) -ge 15 ]; then
            echo "$label: $((SECONDS - start)) s${now:+, $now}"
            shown=$now
            said=$SECONDS
        fi
    done
    if ! wait "$pid"; then
        echo "$label: failed after $((SECONDS - start)) s; the last lines of $log:" >&2
        tail -n 30 "$log" >&2
        return 1
    fi
    echo "$label: done in $((SECONDS - start)) s"
}

# One short line of where a command stands, read from its log.
zstack_progress_line() {
    case $1 in
        apt)
            # apt-get -q prints "Get:N ..." while downloading and "Unpacking"/"Setting up" while installing
            awk '/^Get:/ {got++} /^Setting up / {set++} /newly installed/ {total = $1 + $3}
                 END {
                     if (set) printf "installed %d of %d packages", set, total
                     else if (got) printf "fetched %d files", got
                     else printf "reading package lists"
                 }' "$2" ;;
        maven)
            awk '/Downloaded from/ {n++}
                 /^\[INFO\] Building [^:]*$/ {sub(/^\[INFO\] Building /, ""); sub(/ +[0-9][^ ]* *(\[[0-9\/]+\])?$/, ""); module = $0}
                 END {
                     if (module != "") printf "building %s", module
                     if (n) printf "%s%d files downloaded", (module != "" ? ", " : ""), n
                 }' "$2" ;;
    esac
}

zstack_packages=(dpdk libdpdk-dev pkg-config gcc make maven iproute2 iptables iputils-ping curl tcpdump tshark
                 python3-scapy ethtool procps)

zstack_missing=()
for p in "${zstack_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || zstack_missing+=("$p")
done
if [ ${#zstack_missing[@]} -gt 0 ]; then
    echo "setup: installing ${zstack_missing[*]} with apt-get (on a fresh machine about a minute for the lists,"
    echo "setup: then one to three for the packages; logs in /tmp/zstack-apt-*.log)"
    export DEBIAN_FRONTEND=noninteractive
    zstack_progress "setup: apt-get update" /tmp/zstack-apt-update.log apt apt-get update -q || exit 1
    zstack_progress "setup: apt-get install" /tmp/zstack-apt-install.log apt \
        apt-get install -y -q --no-install-recommends "${zstack_missing[@]}" || exit 1
fi

# ZStack needs a JDK 25 (java.lang.foreign with Linker.Option.critical); the machine's default java may be older.
zstack_java_version() {
    [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 1
    "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
}
zstack_is_jdk25() {
    local v
    v=$(zstack_java_version "$1") || return 1
    [[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 25 ]
}
if [ -z "${JAVA_HOME:-}" ] || ! zstack_is_jdk25 "$JAVA_HOME"; then
    zstack_jdk=
    zstack_path_jdk=
    if command -v javac >/dev/null 2>&1; then
        zstack_path_jdk=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
    fi
    for candidate in /usr/lib/jvm/*/ $zstack_path_jdk; do
        candidate=${candidate%/}
        if zstack_is_jdk25 "$candidate"; then
            zstack_jdk=$candidate
            break
        fi
    done
    if [ -z "$zstack_jdk" ]; then
        zstack_jvms=$(ls /usr/lib/jvm 2>/dev/null | tr '\n' ' ')
        echo "setup: ZStack needs a JDK 25 (java and javac, version 25 or later) and found none: JAVA_HOME is" >&2
        echo "setup: ${JAVA_HOME:-not set}; /usr/lib/jvm holds ${zstack_jvms:-nothing}" >&2
        echo "setup: Debian 12 has no JDK 25 package. Install Eclipse Temurin 25 (package temurin-25-jdk from" >&2
        echo "setup: Adoptium's apt repository, https://adoptium.net/installation/linux/), which goes to /usr/lib/jvm," >&2
        echo "setup: or unpack any JDK 25 and run: JAVA_HOME=/path/to/jdk-25 $0" >&2
        exit 1
    fi
    JAVA_HOME=$zstack_jdk
fi
echo "setup: JDK 25 at $JAVA_HOME"
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
# Maven's own libraries call sun.misc.Unsafe, which JDK 25 warns about on every run. jansi (Maven's console
# library) writes colour resets even into a pipe unless told not to: strip and noreset keep the output plain text.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow -Djansi.mode=strip -Djansi.noreset=true"

# Stops a process we started: SIGTERM (a ZStack server then closes its port and EAL), SIGKILL if it is still there
# 10 s later.   zstack_stop PID
zstack_stop() {
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Removes what ZStack processes that are gone left behind: EAL runtime folders (/var/run/dpdk/zstack-PID; a process
# removes its own at exit unless it was killed) and test namespaces (zst-PID-N, zstack-demo-PID) with whatever still
# runs in them. Folders and namespaces of live processes, another run's included, are left alone.
zstack_clean_leftovers() {
    local d pid ns removed=()
    for d in /var/run/dpdk/zstack-*; do
        pid=${d##*-}
        [[ -d $d && $pid =~ ^[0-9]+$ ]] || continue
        kill -0 "$pid" 2>/dev/null && continue
        rm -rf -- "$d" && removed+=("$d")
    done
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        if [[ $ns =~ ^zst-([0-9]+)-[0-9]+$ || $ns =~ ^zstack-demo-([0-9]+)$ ]]; then
            pid=${BASH_REMATCH[1]}
            kill -0 "$pid" 2>/dev/null && continue
            ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
            ip netns del "$ns" 2>/dev/null && removed+=("namespace $ns")
        fi
    done
    if [ ${#removed[@]} -gt 0 ]; then
        echo "cleanup: removed what ended processes left: ${removed[*]}"
    fi
}
