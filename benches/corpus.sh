# The standard benchmark corpora, by name, made with ../shared/bench/make_corpus.py.
# Sourced by benches/run.sh and benches/live.sh, which set `shared` (the shared bench folder)
# and `dir` (where corpora go). `make_corpus NAME` makes $dir/NAME.pcap if it is missing.

# Arguments of make_corpus.py for a corpus name; NAME-rd is NAME with reordering and loss.
corpus_args() {
    case "$1" in
        *-rd) corpus_args "${1%-rd}"; args+=(--reorder 0.01 --drop 0.001) ;;
        bench-1g) args=(--input "$shared/seed/seed-app.pcap:15" --input "$shared/seed/seed-hs.pcap:85" --flows 90000 --seed 1) ;;
        bench-100m) args=(--input "$shared/seed/seed-app.pcap:15" --input "$shared/seed/seed-hs.pcap:85" --flows 9000 --seed 1) ;;
        handshakes-only) args=(--input "$shared/seed/seed-hs.pcap" --flows 100000 --seed 2) ;;
        handshakes-10k) args=(--input "$shared/seed/seed-hs.pcap" --flows 10000 --seed 2) ;;
        handshakes-1k) args=(--input "$shared/seed/seed-hs.pcap" --flows 1000 --seed 2) ;;
        handshakes-c500) args=(--input "$shared/seed/seed-hs.pcap" --flows 100000 --seed 2 --concurrency 500) ;;
        handshakes-c50k) args=(--input "$shared/seed/seed-hs.pcap" --flows 100000 --seed 2 --concurrency 50000) ;;
        *) echo "unknown corpus $1" >&2; exit 2 ;;
    esac
}

# QUIC corpora (benches/quic_corpus.py, fresh connection IDs and re-protected Initials per
# replayed connection): as many connections as the TCP corpus they are named after, over the
# same time span; quic-mix is handshakes-only with 100,000 QUIC connections merged in.
quic_corpus_args() {
    case "$1" in
        quic-only) make_corpus handshakes-only; args=(--flows 100000 --span-of "$dir/handshakes-only.pcap") ;;
        quic-10k) make_corpus handshakes-10k; args=(--flows 10000 --span-of "$dir/handshakes-10k.pcap") ;;
        quic-mix) make_corpus handshakes-only; args=(--flows 100000 --tcp "$dir/handshakes-only.pcap") ;;
        *) echo "unknown corpus $1" >&2; exit 2 ;;
    esac
}

make_corpus() {
    local out="$dir/$1.pcap"
    [ -s "$out" ] && return
    echo "making $out" >&2
    args=()
    case "$1" in
        quic-*)
            quic_corpus_args "$1"
            python3 "$(dirname "${BASH_SOURCE[0]}")/quic_corpus.py" "${args[@]}" --out "$out" >&2
            ;;
        *)
            corpus_args "$1"
            python3 "$shared/make_corpus.py" "${args[@]}" --out "$out" >&2
            ;;
    esac
}
