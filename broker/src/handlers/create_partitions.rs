//! CreatePartitions: grow a topic (never shrink), optional explicit
//! assignments, `validate_only`.

use std::collections::HashSet;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use tidewater_quorum::acl::AclOperation;

use super::{RequestContext, authz, msg};
use crate::broker_server::Broker;
use crate::kafka_error::KafkaError;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: CreatePartitionsRequest,
    _version: i16,
) -> CreatePartitionsResponse {
    let mut resp = CreatePartitionsResponse::default();
    let mut seen = HashSet::new();
    let dupes: HashSet<String> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.0.to_string()))
        .map(|t| t.name.0.to_string())
        .collect();
    let _guard = broker.admin().lock().await;
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut r = CreatePartitionsTopicResult::default();
        r.name = t.name.clone();
        let outcome = if dupes.contains(&name) {
            Err(KafkaError::new(
                E::InvalidRequest,
                format!("Duplicate topic in request: {name}"),
            ))
        } else if let Err(e) = authz::topic(broker, ctx, AclOperation::Alter, &name) {
            // Kafka's handleCreatePartitionsRequest: Alter on the topic.
            Err(e)
        } else {
            // Null (and, leniently, an empty list) means "place them for me".
            let assignments = t.assignments.filter(|a| !a.is_empty()).map(|a| {
                a.into_iter()
                    .map(|x| x.broker_ids.into_iter().map(|b| b.0).collect())
                    .collect()
            });
            broker
                .add_partitions(&name, t.count, assignments, req.validate_only)
                .await
        };
        if let Err(e) = outcome {
            r.error_code = e.code();
            r.error_message = msg(e.message);
        }
        resp.results.push(r);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, eventually};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::protocol::StrBytes;

    fn req(name: &str, count: i32, validate_only: bool) -> CreatePartitionsRequest {
        let mut t = CreatePartitionsTopic::default();
        t.name = TopicName(StrBytes::from_string(name.into()));
        t.count = count;
        let mut r = CreatePartitionsRequest::default();
        r.topics = vec![t];
        r.validate_only = validate_only;
        r
    }

    #[tokio::test]
    async fn grows_but_never_shrinks() {
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("t").unwrap();
        assert_eq!(
            handle(b, &Default::default(), req("t", 3, true), 3)
                .await
                .results[0]
                .error_code,
            0
        );
        assert_eq!(b.metadata().topic("t").unwrap().partitions.len(), 1);
        assert_eq!(
            handle(b, &Default::default(), req("t", 3, false), 3)
                .await
                .results[0]
                .error_code,
            0
        );
        // The new replica appears once this broker applies the image that holds it.
        eventually("log t-2", || b.log("t", 2).is_some()).await;
        assert_eq!(
            handle(b, &Default::default(), req("t", 2, false), 3)
                .await
                .results[0]
                .error_code,
            E::InvalidPartitions.code()
        );
        assert_eq!(
            handle(b, &Default::default(), req("t", 3, false), 3)
                .await
                .results[0]
                .error_code,
            E::InvalidPartitions.code()
        );
        assert_eq!(
            handle(b, &Default::default(), req("nope", 3, false), 3)
                .await
                .results[0]
                .error_code,
            E::UnknownTopicOrPartition.code()
        );
    }
}
