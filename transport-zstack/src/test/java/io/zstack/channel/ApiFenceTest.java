package io.zstack.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.zstack.tcp.TcpSettings;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Member;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The exported package's public surface names no type of the stack's inside: every public or protected member of
 * every public type of {@code io.zstack.channel} (inherited ones included, as a package-private base class's public
 * methods are part of its public subclass), its supertypes and thrown exceptions, read by reflection from the
 * compiled classes. This is what the module's encapsulation relies on, and what javac's -Xlint:exports warns about;
 * here it fails the build. The expected public types are listed, so a new one is a decision, not an accident.
 */
class ApiFenceTest {
    private static final String API = "io.zstack.channel";
    private static final Set<String> PUBLIC_TYPES = Set.of("ZStack", "ZStackChannelOption", "ZStackCongestionControl",
            "ZStackConfig", "ZStackConfig$Builder", "ZStackConfig$DeviceFactory", "ZStackDevices",
            "ZStackDevices$Port", "ZStackDevices$KernelTap", "ZStackEventLoop", "ZStackEventLoopGroup",
            "ZStackServerSocketChannel", "ZStackServerSocketChannelConfig", "ZStackSocketChannel",
            "ZStackSocketChannelConfig", "ZStackStatisticsMXBean", "ZStackTcpDefaults", "ZStackTcpDefaults$Builder");

    @Test
    void thePublicTypesAreTheOnesListed() throws Exception {
        TreeSet<String> found = new TreeSet<>();
        for (Class<?> type : apiClasses()) {
            if (isPublicApi(type)) {
                found.add(type.getName().substring(API.length() + 1));
            }
        }
        assertEquals(new TreeSet<>(PUBLIC_TYPES), found);
    }

    @Test
    void noPublicSignatureNamesAnInternalType() throws Exception {
        List<String> leaks = new ArrayList<>();
        for (Class<?> type : apiClasses()) {
            if (isPublicApi(type)) {
                leaks.addAll(leaksOf(type));
            }
        }
        assertTrue(leaks.isEmpty(), String.join("\n", leaks));
    }

    @Test
    void findsALeakInAReturnTypeAParameterAndATypeArgument() {
        List<String> leaks = leaksOf(Leaky.class);
        assertEquals(3, leaks.size(), String.join("\n", leaks));
    }

    /** A public type with three leaks, for the test above. */
    public static final class Leaky {
        public TcpSettings settings() {
            return null;
        }

        public void take(TcpSettings settings) {
        }

        public List<TcpSettings> all() {
            return List.of();
        }

        void packagePrivate(TcpSettings ignored) {
        }
    }

    private static List<String> leaksOf(Class<?> type) {
        List<String> leaks = new ArrayList<>();
        check(type + " extends", type.getGenericSuperclass(), leaks);
        for (Type i : type.getGenericInterfaces()) {
            check(type + " implements", i, leaks);
        }
        List<Member> members = new ArrayList<>();
        members.addAll(List.of(type.getFields()));
        members.addAll(List.of(type.getMethods()));
        members.addAll(List.of(type.getConstructors()));
        for (Field f : type.getDeclaredFields()) {
            if (Modifier.isProtected(f.getModifiers())) {
                members.add(f);
            }
        }
        for (Method m : type.getDeclaredMethods()) {
            if (Modifier.isProtected(m.getModifiers())) {
                members.add(m);
            }
        }
        for (Constructor<?> c : type.getDeclaredConstructors()) {
            if (Modifier.isProtected(c.getModifiers())) {
                members.add(c);
            }
        }
        for (Member member : members) {
            if (member.isSynthetic()) {
                continue;
            }
            String where = type.getName() + "." + member.getName();
            if (member instanceof Field f) {
                check(where, f.getGenericType(), leaks);
            } else if (member instanceof Executable e) {
                if (e instanceof Method m) {
                    check(where + " returns", m.getGenericReturnType(), leaks);
                }
                for (Type p : e.getGenericParameterTypes()) {
                    check(where + " takes", p, leaks);
                }
                for (Type x : e.getGenericExceptionTypes()) {
                    check(where + " throws", x, leaks);
                }
            }
        }
        return leaks;
    }

    /** Type variables whose bounds are being checked (a recursive bound would otherwise never end). */
    private static final ThreadLocal<Set<TypeVariable<?>>> VISITING = ThreadLocal.withInitial(HashSet::new);

    /** Adds a line to {@code leaks} for every internal class {@code type} names, type arguments included. */
    private static void check(String where, Type type, List<String> leaks) {
        if (type instanceof Class<?> c) {
            while (c.isArray()) {
                c = c.getComponentType();
            }
            String pkg = c.getPackageName();
            if (pkg.startsWith("io.zstack.") && !pkg.equals(API)) {
                leaks.add(where + ": " + c.getName());
            }
        } else if (type instanceof ParameterizedType p) {
            check(where, p.getRawType(), leaks);
            for (Type a : p.getActualTypeArguments()) {
                check(where, a, leaks);
            }
        } else if (type instanceof WildcardType w) {
            for (Type b : w.getUpperBounds()) {
                check(where, b, leaks);
            }
            for (Type b : w.getLowerBounds()) {
                check(where, b, leaks);
            }
        } else if (type instanceof GenericArrayType a) {
            check(where, a.getGenericComponentType(), leaks);
        } else if (type instanceof TypeVariable<?> v && VISITING.get().add(v)) {
            try {
                for (Type b : v.getBounds()) { // C extends AbstractZStackChannelConfig<C> names C again
                    check(where, b, leaks);
                }
            } finally {
                VISITING.get().remove(v);
            }
        }
    }

    /** Public, and reachable from outside: every enclosing type public too. */
    private static boolean isPublicApi(Class<?> type) {
        for (Class<?> c = type; c != null; c = c.getEnclosingClass()) {
            if (!Modifier.isPublic(c.getModifiers())) {
                return false;
            }
        }
        return !type.isAnonymousClass() && !type.isLocalClass();
    }

    /** Every class of the API package, read from the compiled main classes (tests' classes are elsewhere). */
    private static List<Class<?>> apiClasses() throws IOException, ClassNotFoundException {
        Path root;
        try {
            root = Path.of(ZStackEventLoopGroup.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        Path dir = root.resolve(API.replace('.', '/'));
        List<Class<?>> classes = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(f -> f.toString().endsWith(".class")).sorted().toList()) {
                String simple = f.getFileName().toString().replace(".class", "");
                classes.add(Class.forName(API + "." + simple, false, ApiFenceTest.class.getClassLoader()));
            }
        }
        return classes;
    }
}
