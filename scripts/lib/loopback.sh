# Sourced by bench/ scripts that start servers on loopback.

# free_port: a TCP port free on 127.0.0.1 now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# wait_for URL [curl flags]: until it answers, at most 20 s.
wait_for() {
  local url="$1"; shift
  for _ in $(seq 1 200); do curl -s -o /dev/null "$@" "$url" && return 0; sleep 0.1; done
  echo "bench: $url did not come up" >&2; return 1
}
