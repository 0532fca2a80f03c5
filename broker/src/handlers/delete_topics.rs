//! DeleteTopics: by name (all versions) or topic id (v6+).

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use tidewater_quorum::acl::AclOperation;

use super::{RequestContext, authz, msg};
use crate::broker_server::Broker;

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let targets: Vec<(Option<String>, Uuid)> = if version >= 6 {
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let _guard = broker.admin().lock().await;
    let mut resp = DeleteTopicsResponse::default();
    for (name, id) in targets {
        let mut r = DeletableTopicResult::default();
        let name = match name {
            Some(n) => Some(n),
            None => broker.metadata().topic_by_id(id).map(|t| t.name),
        };
        match name {
            None => {
                r.topic_id = id;
                r.error_code = E::UnknownTopicId.code();
            }
            Some(name) => {
                r.name = Some(TopicName(StrBytes::from_string(name.clone())));
                // Kafka's handleDeleteTopicsRequest: Delete on the topic.
                let deleted = match authz::topic(broker, ctx, AclOperation::Delete, &name) {
                    Ok(()) => broker.delete_topic(&name).await,
                    Err(e) => Err(e),
                };
                match deleted {
                    Ok(deleted_id) => {
                        if version >= 6 {
                            r.topic_id = deleted_id;
                        }
                    }
                    Err(e) => {
                        r.error_code = e.code();
                        if version >= 5 {
                            r.error_message = msg(e.message);
                        }
                    }
                }
            }
        }
        resp.responses.push(r);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, encodes};
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    #[tokio::test]
    async fn deletes_by_name_and_id() {
        let tb = broker(&[]);
        let b = &tb.broker;
        b.auto_create_topic("a").unwrap();
        let id_b = b.auto_create_topic("b").unwrap().id;
        let mut by_name = DeleteTopicsRequest::default();
        by_name.topic_names = vec![
            TopicName(StrBytes::from_static_str("a")),
            TopicName(StrBytes::from_static_str("zz")),
        ];
        let r = handle(b, &Default::default(), by_name, 4).await;
        assert_eq!(r.responses[0].error_code, 0);
        assert_eq!(r.responses[1].error_code, E::UnknownTopicOrPartition.code());
        assert!(b.metadata().topic("a").is_none());
        assert!(b.log("a", 0).is_none());
        encodes(ApiKey::DeleteTopics, 4, ResponseKind::DeleteTopics(r));

        let mut by_id = DeleteTopicsRequest::default();
        let mut s = DeleteTopicState::default();
        s.topic_id = id_b;
        let mut internal = DeleteTopicState::default();
        internal.name = Some(TopicName(StrBytes::from_static_str("__consumer_offsets")));
        by_id.topics = vec![s, internal];
        let r = handle(b, &Default::default(), by_id, 6).await;
        assert_eq!(r.responses[0].error_code, 0);
        assert_eq!(r.responses[0].name.as_ref().unwrap().0.as_str(), "b");
        assert_ne!(
            r.responses[1].error_code, 0,
            "internal topics cannot be deleted"
        );
        encodes(ApiKey::DeleteTopics, 6, ResponseKind::DeleteTopics(r));
    }
}
