//! DescribeTransactions (API 65) and ListTransactions (API 66, v0-1) over the
//! transactional ids this broker coordinates, as Kafka's `TransactionStateManager`
//! answers them (the admin client asks every coordinator and merges).

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_transactions_response::{
    TopicData, TransactionState as Described,
};
use kafka_protocol::messages::list_transactions_response::TransactionState as Listed;
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest,
    ListTransactionsResponse, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use tidewater_txn::TxnState;

use super::super::now_ms;
use super::TxnHost;

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

impl TxnHost {
    /// DescribeTransactions: each id's state, or NOT_COORDINATOR,
    /// COORDINATOR_LOAD_IN_PROGRESS, TRANSACTIONAL_ID_NOT_FOUND.
    pub fn describe_transactions(
        &self,
        req: &DescribeTransactionsRequest,
    ) -> DescribeTransactionsResponse {
        let c = self.lock();
        let mut resp = DescribeTransactionsResponse::default();
        for id in &req.transactional_ids {
            let mut state = Described::default();
            state.transactional_id = id.clone();
            state.producer_id = ProducerId(-1);
            state.producer_epoch = -1;
            match c.describe(id.0.as_str()) {
                Ok(m) => {
                    state.transaction_state = str_bytes(m.state.name());
                    state.transaction_timeout_ms = m.timeout_ms;
                    state.transaction_start_time_ms = m.start_ms;
                    state.producer_id = ProducerId(m.producer_id);
                    state.producer_epoch = m.producer_epoch;
                    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                    for (topic, partition) in &m.partitions {
                        topics.entry(topic).or_default().push(*partition);
                    }
                    state.topics = topics
                        .into_iter()
                        .map(|(topic, partitions)| {
                            let mut t = TopicData::default();
                            t.topic = TopicName(str_bytes(topic));
                            t.partitions = partitions;
                            t
                        })
                        .collect();
                }
                Err(e) => state.error_code = e.code(),
            }
            resp.transaction_states.push(state);
        }
        resp
    }

    /// ListTransactions: the ids coordinated here, filtered by state names (unknown
    /// ones are listed back and match nothing), producer ids and (v1) how long the
    /// transaction has run (`duration_filter` ms, -1: any).
    pub fn list_transactions(
        &self,
        req: &ListTransactionsRequest,
        version: i16,
    ) -> ListTransactionsResponse {
        let states: Vec<&str> = req.state_filters.iter().map(|s| s.as_str()).collect();
        let producer_ids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
        let duration = if version >= 1 {
            req.duration_filter
        } else {
            -1
        };
        let now = now_ms();
        let c = self.lock();
        let mut resp = ListTransactionsResponse::default();
        resp.unknown_state_filters = req
            .state_filters
            .iter()
            .filter(|s| TxnState::from_name(s.as_str()).is_none())
            .cloned()
            .collect();
        resp.transaction_states = c
            .list(&producer_ids, &states)
            .into_iter()
            .filter(|m| duration < 0 || now - m.start_ms > duration)
            .map(|m| {
                let mut t = Listed::default();
                t.transactional_id = TransactionalId(str_bytes(&m.transactional_id));
                t.producer_id = ProducerId(m.producer_id);
                t.transaction_state = str_bytes(m.state.name());
                t
            })
            .collect();
        resp
    }
}
