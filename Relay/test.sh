#!/usr/bin/env bash
# The relay's tests (Relay/Tests), against a real nats-server with JetStream that each test starts
# on a loopback port in a temporary store. Needs nats-server and libnats-dev (Debian packages):
# installed here with apt-get when missing and running as root. Part of the README's test command.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v nats-server >/dev/null || [ ! -f /usr/include/nats/nats.h ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server libnats-dev >/dev/null
    else
        echo "the relay's tests need nats-server and libnats-dev: apt-get install nats-server libnats-dev" >&2
        exit 1
    fi
fi
swift build --build-tests
swift test --skip-build
