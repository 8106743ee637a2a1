package dev.ingestbridge.opensearch;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.io.PrintStream;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.core.common.transport.TransportAddress;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single local OpenSearch 2.19 node started from Maven Central jars (no distribution, no Docker).
 *
 * <pre>
 *   java -Xms512m -Xmx512m -Dopensearch.set.netty.runtime.available.processors=false \
 *        -cp target/classes:$(cat target/classpath.txt) dev.ingestbridge.opensearch.LocalNode \
 *        [--exit-on-stdin-eof] -Epath.home=/tmp/os-home [-Ehttp.port=9200] [-Ekey=value ...]
 * </pre>
 *
 * <ul>
 *   <li>{@code -Ekey=value}: any node setting (static ones too, e.g. {@code thread_pool.write.size=1}); they override
 *       the defaults below.</li>
 *   <li>{@code --exit-on-stdin-eof}: parent-death tether. A daemon thread reads stdin; on EOF (the parent died or closed
 *       the pipe) the node is closed and the JVM exits 0. A watchdog halts the JVM if closing hangs.</li>
 *   <li>SIGTERM / SIGINT: a shutdown hook closes the node.</li>
 *   <li>Logging: {@code config/log4j2.properties} is written into {@code path.home} (unless present): WARN to stderr;
 *       {@code -Dlocalnode.log.level=info} shows OpenSearch's INFO lines.</li>
 *   <li>Once the node has started, one line is printed on stdout: {@code LOCALNODE READY http://HOST:PORT}.</li>
 * </ul>
 */
public final class LocalNode extends Node {

    private static final String LOG4J2_PROPERTIES = String.join("\n",
        "status = error",
        "appender.console.type = Console",
        "appender.console.name = console",
        "appender.console.target = SYSTEM_ERR",
        "appender.console.layout.type = PatternLayout",
        "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n",
        "rootLogger.level = ${sys:localnode.log.level:-warn}",
        "rootLogger.appenderRef.console.ref = console",
        "logger.dangling.name = org.opensearch.gateway.DanglingIndicesState",
        "logger.dangling.level = error",
        "");

    private static final long CLOSE_TIMEOUT_SECONDS = 20;

    // OpenSearch's logging set-up redirects System.out/err to loggers: keep the real streams.
    private static final PrintStream STDOUT = System.out;
    private static final PrintStream STDERR = System.err;

    private static volatile LocalNode node;
    private static final AtomicBoolean closing = new AtomicBoolean(false);
    /** Node threads are daemons for the most part: this latch keeps the JVM up until the node is closed. */
    private static final CountDownLatch keepAlive = new CountDownLatch(1);

    private LocalNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(environment, plugins, true);
    }

    public static void main(String[] args) throws Exception {
        try {
            run(args);
        } catch (Throwable t) {
            STDERR.println("LocalNode: failed to start: " + t);
            t.printStackTrace(STDERR);
            STDERR.flush();
            closeNode();
            Runtime.getRuntime().halt(1);
        }
    }

    private static void run(String[] args) throws Exception {
        boolean exitOnStdinEof = false;
        Map<String, String> overrides = new LinkedHashMap<>();
        for (String arg : args) {
            if (arg.equals("--exit-on-stdin-eof")) {
                exitOnStdinEof = true;
            } else if (arg.startsWith("-E")) {
                String kv = arg.substring(2);
                int eq = kv.indexOf('=');
                if (eq <= 0) {
                    usage("bad setting (expected -Ekey=value): " + arg);
                }
                overrides.put(kv.substring(0, eq), kv.substring(eq + 1));
            } else {
                usage("unknown argument: " + arg);
            }
        }

        // Start watching stdin before anything slow: a parent that dies during start-up must still take us down.
        if (exitOnStdinEof) {
            Thread watcher = new Thread(LocalNode::watchStdin, "localnode-stdin-tether");
            watcher.setDaemon(true);
            watcher.start();
        }

        String home = overrides.get("path.home");
        Path homePath = home != null ? Paths.get(home) : Files.createTempDirectory("opensearch-local-");
        homePath = homePath.toAbsolutePath();
        Path configPath = homePath.resolve("config");
        Files.createDirectories(configPath);
        Files.createDirectories(homePath.resolve("plugins"));
        Files.createDirectories(homePath.resolve("modules"));
        Files.createDirectories(homePath.resolve("logs"));
        Path log4jFile = configPath.resolve("log4j2.properties");
        if (!Files.exists(log4jFile)) {
            Files.write(log4jFile, LOG4J2_PROPERTIES.getBytes(StandardCharsets.UTF_8));
        }

        Settings.Builder builder = Settings.builder()
            .put("cluster.name", "ingest-bridge-local")
            .put("node.name", "local")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", "9200")
            .put("transport.port", "0")
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            .put("cluster.routing.allocation.disk.threshold_enabled", "false")
            .put("path.home", homePath.toString())
            .put("path.data", homePath.resolve("data").toString())
            .put("path.logs", homePath.resolve("logs").toString());
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            builder.put(e.getKey(), e.getValue());
        }
        Settings settings = builder.build();

        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Collections.emptyMap(), configPath, () -> settings.get("node.name", "local"));
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(settings.get("node.name", "local"));
        LogConfigurator.configure(environment);

        List<Class<? extends Plugin>> plugins = List.of(Netty4Plugin.class, CommonAnalysisPlugin.class);
        LocalNode n = new LocalNode(environment, plugins);
        node = n;
        Runtime.getRuntime().addShutdownHook(new Thread(LocalNode::closeNode, "localnode-shutdown"));
        if (closing.get()) {
            return; // stdin closed while we were constructing
        }
        n.start();

        HttpServerTransport http = n.injector().getInstance(HttpServerTransport.class);
        TransportAddress address = http.boundAddress().publishAddress();
        STDOUT.println("LOCALNODE READY http://" + address.getAddress() + ":" + address.getPort());
        STDOUT.flush();

        Thread keeper = new Thread(() -> {
            try {
                keepAlive.await();
            } catch (InterruptedException ignored) {
                // exit
            }
        }, "localnode-keepalive");
        keeper.setDaemon(false);
        keeper.start();
    }

    private static void usage(String message) {
        STDERR.println("LocalNode: " + message);
        STDERR.println("usage: LocalNode [--exit-on-stdin-eof] -Epath.home=DIR [-Ekey=value ...]");
        System.exit(2);
    }

    private static void watchStdin() {
        InputStream in = System.in;
        byte[] buf = new byte[256];
        try {
            while (in.read(buf) >= 0) {
                // ignore anything written; we only wait for end of file
            }
        } catch (IOException ignored) {
            // a broken pipe is the same as EOF
        }
        // Watchdog: if closing hangs, halt (no shutdown hooks) after a bound.
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(TimeUnit.SECONDS.toMillis(CLOSE_TIMEOUT_SECONDS + 5));
            } catch (InterruptedException ignored) {
                return;
            }
            Runtime.getRuntime().halt(1);
        }, "localnode-exit-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        closeNode();
        System.exit(0);
    }

    private static void closeNode() {
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        LocalNode n = node;
        try {
            if (n != null) {
                n.close();
                n.awaitClose(CLOSE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            STDERR.println("LocalNode: error while closing: " + e);
        } finally {
            keepAlive.countDown();
        }
    }
}
