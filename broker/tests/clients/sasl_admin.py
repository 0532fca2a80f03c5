#!/usr/bin/env python3
"""confluent-kafka (librdkafka) against SASL listeners of a Tidewater broker.

Subcommands:
  upsert            AlterUserScramCredentials: --user gets --password for --mechanism
                    (SCRAM-SHA-256 or SCRAM-SHA-512, --iterations); exits 0 once done.
  describe          DescribeUserScramCredentials of --user; prints its mechanisms.
  expect-auth-error metadata request that must fail with SASL authentication
                    failed; prints the error.
Client properties come as repeated --set key=value (security.protocol, sasl.*).
The last stdout line is JSON.
"""
import argparse
import json

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from checks import check, fail
from tls_client import client_config, expect_error


def mechanism(name):
    return {"SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
            "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512}[name]


def cmd_upsert(a):
    admin = AdminClient(client_config(a, {}))
    info = ScramCredentialInfo(mechanism(a.mechanism), a.iterations)
    upsert = UserScramCredentialUpsertion(a.user, info, a.password.encode())
    futures = admin.alter_user_scram_credentials([upsert], request_timeout=30)
    for user, f in futures.items():
        f.result()
    print(json.dumps({"upserted": a.user, "mechanism": a.mechanism}))


def cmd_describe(a):
    admin = AdminClient(client_config(a, {}))
    futures = admin.describe_user_scram_credentials([a.user], request_timeout=30)
    out = {}
    for user, f in futures.items():
        try:
            d = f.result()
            out[user] = [{"mechanism": str(i.mechanism.name), "iterations": i.iterations}
                         for i in d.scram_credential_infos]
        except KafkaException as e:
            out[user] = {"error": e.args[0].name()}
    print(json.dumps(out))


def cmd_expect_auth_error(a):
    expect_error(a, "an authentication error", lambda e: e.code() == KafkaError._AUTHENTICATION)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--set", action="append", help="client property key=value")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("upsert")
    s.add_argument("--user", required=True)
    s.add_argument("--password", required=True)
    s.add_argument("--mechanism", default="SCRAM-SHA-512")
    s.add_argument("--iterations", type=int, default=4096)
    s = sub.add_parser("describe")
    s.add_argument("--user", required=True)
    sub.add_parser("expect-auth-error")
    a = ap.parse_args()
    {"upsert": cmd_upsert, "describe": cmd_describe,
     "expect-auth-error": cmd_expect_auth_error}[a.cmd](a)


if __name__ == "__main__":
    main()
