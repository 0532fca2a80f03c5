//! Apache Kafka's own command-line tools, run by class name on a JVM from the jars
//! `fetch-jars.sh` keeps in the build cache at the version pinned in `pom.xml`.
//!
//! Owns finding `java`/`mvn` and the classpath; it judges nothing about Tidewater.
//! The tests are skipped (with a printed reason) only when Java or Maven is missing;
//! once the JVM is there, any tool error fails the test.
// kraft_voters_kafka_tool.rs includes this module too and compiles no Java.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::common::process::{Output, Running, spawn};

/// A tool run may include a JVM start-up on a busy 2-core machine.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);
/// The first run downloads about 55 MB from Maven Central.
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// Text a Kafka tool prints only when something went wrong; none may appear.
const ERROR_MARKERS: &[&str] = &[
    "Exception",
    "Error",
    "error:",
    "ERROR",
    "failed",
    "Mismatches in",
    "invalid bytes",
    "not found in",
    "out of order timestamp",
    "timestamp mismatch",
    "isvalid: false",
    "Indexed offset",
    "Ignoring unknown file",
];

/// The JVM and the classpath of Kafka's jars.
pub struct KafkaTools {
    classpath: String,
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

fn kafka_tools_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kafka_tools")
}

/// A script or file beside this module in `broker/tests/kafka_tools/`.
pub fn kafka_tools_file(name: &str) -> PathBuf {
    kafka_tools_dir().join(name)
}

impl KafkaTools {
    /// The jars, fetched with Maven when the cache lacks them; `None` (after printing
    /// why the test is skipped) only when `java` or `mvn` is not installed.
    pub fn find(test: &str) -> Option<KafkaTools> {
        for tool in ["java", "mvn"] {
            if !on_path(tool) {
                eprintln!(
                    "SKIPPED {test}: `{tool}` is not installed (Java 17 and Maven are needed \
                     to run Apache Kafka's tools; see broker/tests/kafka_tools/fetch-jars.sh)"
                );
                return None;
            }
        }
        let script = kafka_tools_file("fetch-jars.sh");
        let out = spawn("sh", &[script.display().to_string()], None).wait(FETCH_TIMEOUT);
        assert!(out.status.success(), "fetching Kafka's jars failed:\n{out}");
        let dir = out
            .stdout
            .lines()
            .last()
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        assert!(
            Path::new(&dir).join(".complete").is_file(),
            "fetch-jars.sh printed {dir:?}, not a complete jar dir:\n{out}"
        );
        Some(KafkaTools {
            classpath: format!("{dir}/*"),
        })
    }

    /// Compiles `source` (a `.java` file beside this module) against Kafka's jars into
    /// `out`, for [`KafkaTools::run_compiled`]; `None` (after printing why the test is
    /// skipped) when the JDK has no `javac`.
    pub fn compile(&self, test: &str, source: &str, out: &Path) -> Option<()> {
        if !on_path("javac") {
            eprintln!("SKIPPED {test}: `javac` is not installed (a JDK 17 is needed)");
            return None;
        }
        let args: Vec<String> = [
            "-d".to_string(),
            out.display().to_string(),
            "-cp".to_string(),
            self.classpath.clone(),
            kafka_tools_file(source).display().to_string(),
        ]
        .into();
        let compiled = spawn("javac", &args, None).wait(TOOL_TIMEOUT);
        assert!(compiled.status.success(), "javac {source}:\n{compiled}");
        Some(())
    }

    /// The tools and `source` compiled into a new temporary dir, for
    /// [`KafkaTools::run_compiled`]; `None` (after printing why the test is skipped)
    /// when the JVM, Maven or `javac` is missing.
    pub fn with_compiled(test: &str, source: &str) -> Option<(KafkaTools, tempfile::TempDir)> {
        let kafka = KafkaTools::find(test)?;
        let classes = tempfile::tempdir().expect("tempdir");
        kafka.compile(test, source, classes.path())?;
        Some((kafka, classes))
    }

    /// `java -cp JARS:DIR CLASS ARGS...` for a class [`KafkaTools::compile`] put in `dir`.
    pub fn run_compiled(&self, dir: &Path, class: &str, args: &[&str]) -> Output {
        let classpath = format!("{}:{}", self.classpath, dir.display());
        self.java(&classpath, class, args)
    }

    /// `java -cp JARS CLASS ARGS...`, whatever its outcome.
    pub fn run(&self, class: &str, args: &[&str]) -> Output {
        self.java(&self.classpath, class, args)
    }

    fn java(&self, classpath: &str, class: &str, args: &[&str]) -> Output {
        let mut all: Vec<String> = [
            // Tools are short-lived: a quick JIT and a small serial heap start fastest.
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xshare:auto",
            "-Xmx256m",
            "-cp",
            classpath,
            class,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        all.extend(args.iter().map(|s| s.to_string()));
        let mut out = spawn("java", &all, None).wait(TOOL_TIMEOUT);
        // slf4j-api finds no binding among Kafka's jars and says so on every start.
        out.stderr = out
            .stderr
            .lines()
            .filter(|l| !l.starts_with("SLF4J:"))
            .map(|l| format!("{l}\n"))
            .collect();
        out
    }

    /// `java JVM_OPTIONS -cp JARS CLASS ARGS...` left running (a Kafka broker).
    #[allow(dead_code)] // kraft_voters_kafka_tool.rs includes this module too, runs no node
    pub fn spawn(&self, jvm_options: &[&str], class: &str, args: &[&str]) -> Running {
        let mut all: Vec<String> = jvm_options.iter().map(|s| s.to_string()).collect();
        all.extend(["-cp".to_string(), self.classpath.clone(), class.to_string()]);
        all.extend(args.iter().map(|s| s.to_string()));
        spawn("java", &all, None)
    }

    /// Like `run`, but the tool must exit 0 and print no error text at all.
    pub fn ok(&self, class: &str, args: &[&str]) -> Output {
        let out = self.run(class, args);
        assert_clean(&out);
        out
    }

    /// [`KafkaTools::ok`] against the brokers at `bootstrap` (`--bootstrap-server`
    /// first, as every admin tool takes it).
    pub fn ok_at(&self, class: &str, bootstrap: &str, args: &[&str]) -> Output {
        let mut all = vec!["--bootstrap-server", bootstrap];
        all.extend_from_slice(args);
        self.ok(class, &all)
    }
}

/// Panics unless the tool exited 0 and printed none of `ERROR_MARKERS`.
pub fn assert_clean(out: &Output) {
    assert!(out.status.success(), "{out}");
    let all = format!("{}\n{}", out.stdout, out.stderr);
    if let Some(marker) = ERROR_MARKERS.iter().find(|m| all.contains(*m)) {
        panic!("Kafka tool printed {marker:?}:\n{out}");
    }
}
