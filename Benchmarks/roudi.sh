# Sourced by the benchmark scripts that run iceoryx's anchor binary directly: start_roudi
# ANCHORS BUILD LOG builds the anchors (`ANCHOR_ONLY="iceoryx sizes"`, which also writes RouDi's
# configuration with the large items' mempools into BUILD), then starts iox-roudi in the
# background with that configuration, waiting (at most 10 s) until its log says it is ready.
# Sets `roudi` to its PID; the caller's EXIT trap stops it.
start_roudi() {
    local anchors=$1 build=$2 log=$3
    ANCHOR_ONLY="iceoryx sizes" bash "$anchors" >/dev/null
    iox-roudi -c "$build/roudi_config.toml" -l warning >"$log" 2>&1 &
    roudi=$!
    for _ in $(seq 100); do grep -q "RouDi is ready" "$log" && return 0; sleep 0.1; done
    echo "iox-roudi did not start:" >&2
    cat "$log" >&2
    exit 1
}
