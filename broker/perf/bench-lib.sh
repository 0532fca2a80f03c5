# Sourced by the perf scripts that start brokers themselves:
#   free_port                        a free loopback port
#   create_topic BOOTSTRAP TOPIC [RF] 6 partitions at RF (default 1; min.insync.replicas
#                                    2 at RF 3), returning once every partition has a
#                                    leader and a full ISR
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

create_topic() {
  python3 - "$1" "$2" "${3:-1}" <<'PY'
import sys, time
from confluent_kafka.admin import AdminClient, NewTopic
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
admin.create_topics([NewTopic(sys.argv[2], num_partitions=6, replication_factor=int(sys.argv[3]),
                              config={"min.insync.replicas": "2" if sys.argv[3] == "3" else "1"})])[sys.argv[2]].result(30)
end = time.time() + 30
while time.time() < end:
    t = admin.list_topics(sys.argv[2], timeout=10).topics[sys.argv[2]]
    if t.partitions and all(p.leader >= 0 and len(p.isrs) == int(sys.argv[3]) for p in t.partitions.values()):
        break
    time.sleep(0.2)
else:
    sys.exit(f"topic {sys.argv[2]}: partitions without a leader or a full ISR after 30 s")
PY
}
