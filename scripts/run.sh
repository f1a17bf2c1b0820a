#!/usr/bin/env bash
# The main job: builds and starts the ChunkKv server with the bundled fixture model, the embedded
# index and memory + disk cache tiers (no database server needed), ingests the sample documents
# (skipped when already there), and prints the URL, a ready-to-paste curl query and an OpenAI
# client snippet. The server then runs in the foreground until Ctrl-C.
#
#   bash scripts/run.sh                     embedded index, memory + disk tiers
#   bash scripts/run.sh --services          also starts the local PostgreSQL and Redis and uses them
#   bash scripts/run.sh --model DIR         any Hugging Face Llama / Mistral / Qwen directory
# CHUNKKV_POSTGRES / CHUNKKV_REDIS, when set, point the server at existing stores.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

model="$repo_root/tests/fixtures/fixture-model"
services=0
while (($#)); do
  case "$1" in
    --services) services=1; shift ;;
    --model) model=$(cd "${2:?--model needs a directory}" && pwd); shift 2 ;;
    *) die "unknown option $1 (known: --services, --model DIR)" ;;
  esac
done
[[ -f "$model/config.json" ]] || die "$model is not a model directory (no config.json)"

if ((services)); then
  bash "$repo_root/scripts/setup.sh"
  bash "$repo_root/scripts/services-start.sh"
  source "$(chunkkv_data_dir)/env.sh"
else
  bash "$repo_root/scripts/setup.sh" --run
fi

urls=${CHUNKKV_URLS:-http://127.0.0.1:8080}
url=${urls%%;*}
export CHUNKKV_MODEL=$model
export CHUNKKV_DATADIRECTORY=${CHUNKKV_DATADIRECTORY:-$repo_root/.data/main}
# The fixture's chunks are paragraphs of about 128 tokens: one chunk each.
export CHUNKKV_CHUNKTOKENS=${CHUNKKV_CHUNKTOKENS:-160}

step "building the server"
build_log=$(dotnet build "$repo_root/src/ChunkKv.Server" -c Release -o "$repo_root/.build/server" -nologo 2>&1) ||
  { echo "$build_log"; die "the server did not build"; }

step "starting the server on $url with $(basename "$model")"
(cd "$repo_root/.build/server" && exec dotnet ChunkKv.Server.dll --urls "$urls") &
server=$!
trap 'kill $server 2>/dev/null || true' INT TERM
for _ in $(seq 1 120); do
  # /v1 answers once the model is loaded and the database (with --services) is migrated.
  curl -fsS "$url/v1/models" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || die "the server stopped during start-up (see its output above)"
  sleep 0.5
done
curl -fsS "$url/v1/models" >/dev/null || die "the server did not become ready on $url (see $url/health)"

samples="$model/samples"
if [[ -d "$samples" ]]; then
  step "ingesting the sample documents of $samples"
  curl -fsS -X POST "$url/v1/collections" -H 'content-type: application/json' -d '{"name":"samples"}' >/dev/null
  for file in "$samples"/*.txt; do
    id=$(basename "$file" .txt)
    outcome=$(curl -fsS -X POST "$url/v1/collections/samples/documents?id=$id" -H 'content-type: text/plain' --data-binary "@$file")
    echo "  $id: $outcome"
  done
  question=$(sed -n 's/.*"question": "\(.*\)",*/\1/p' "$samples/questions.json" | sed -n 2p)
else
  question="What is this collection about?"
fi

cat <<INFO

ChunkKv is serving on $url  (API reference: $url/openapi/v1.json, health: $url/health)

Ask a question (fusion method cacheblend:0.15, compared with a full prefill):
  curl -s $url/v1/query -H 'content-type: application/json' \\
    -d '{"collection": "samples", "question": "$question", "compare": ["full"]}'

From any OpenAI client:
  from openai import OpenAI
  client = OpenAI(base_url="$url/v1", api_key="unused")
  print(client.chat.completions.create(model="chunkkv:samples",
        messages=[{"role": "user", "content": "$question"}]).choices[0].message.content)

Ctrl-C stops the server.
INFO
wait $server
