//! Kafka's kafka-configs manages SCRAM users on a Tidewater broker, as on Kafka:
//! `--alter --add-config 'SCRAM-SHA-512=[iterations=..,password=..]' --entity-type
//! users` (AlterUserScramCredentials with a salted password the tool computes), then
//! kcat authenticates with it over SASL_PLAINTEXT; `--delete-config SCRAM-SHA-512`
//! revokes it for new connections.

use std::time::Duration;

use super::common::broker::free_port;
use super::common::{Broker, BrokerOpts, kcat, wait_until};
use super::jvm::KafkaTools;

const CONFIGS: &str = "org.apache.kafka.tools.ConfigCommand";
const T: Duration = Duration::from_secs(60);

#[test]
fn kafka_configs_creates_and_deletes_a_scram_user() {
    let Some(kafka) = KafkaTools::find("kafka_configs_creates_and_deletes_a_scram_user") else {
        return;
    };
    let sasl = format!("127.0.0.1:{}", free_port());
    let broker = Broker::start(BrokerOpts {
        config: vec![("sasl.enabled.mechanisms".into(), "SCRAM-SHA-512".into())],
        extra_listeners: vec![format!("SASL_PLAINTEXT://{sasl}")],
        ..Default::default()
    });
    let bs = broker.bootstrap();
    let user = ["--entity-type", "users", "--entity-name", "erin"];
    let mut args = vec![
        "--alter",
        "--add-config",
        "SCRAM-SHA-512=[iterations=8192,password=erin-secret]",
    ];
    args.extend(user);
    let out = kafka.ok_at(CONFIGS, &bs, &args);
    assert!(
        out.stdout
            .contains("Completed updating config for user erin."),
        "{out}"
    );
    let metadata = |password: &str| {
        let x = [
            "security.protocol=SASL_PLAINTEXT",
            "sasl.mechanisms=SCRAM-SHA-512",
            "sasl.username=erin",
            &format!("sasl.password={password}"),
        ]
        .map(|p| ["-X".to_string(), p.to_string()]);
        let mut args = vec![
            "-b".to_string(),
            sasl.clone(),
            "-L".to_string(),
            "-m".to_string(),
            "5".to_string(),
        ];
        args.extend(x.into_iter().flatten());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kcat(&args, None, T)
    };
    let ok = metadata("erin-secret");
    assert!(ok.status.success(), "erin authenticates: {ok}");
    let wrong = metadata("wrong");
    assert!(
        !wrong.status.success(),
        "a wrong password is refused: {wrong}"
    );
    let mut args = vec!["--alter", "--delete-config", "SCRAM-SHA-512"];
    args.extend(user);
    kafka.ok_at(CONFIGS, &bs, &args);
    wait_until("erin's credential is gone", T, || {
        let out = metadata("erin-secret");
        if out.status.success() {
            Err(format!("still authenticates: {out}"))
        } else if out.stderr.contains("Invalid user credentials") {
            Ok(())
        } else {
            Err(out.to_string())
        }
    });
}
