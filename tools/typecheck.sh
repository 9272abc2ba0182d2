#!/usr/bin/env bash
# Type-check pipemap's public API with mypy (settings: [tool.mypy] in the root pyproject.toml).
# Usage: tools/typecheck.sh   (from anywhere; runs in the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
MYPYPATH=src:packages/mapspec/src:packages/storage/src:packages/runner/src:packages/io/src \
  uv run --with mypy==2.4.1 mypy --ignore-missing-imports --namespace-packages --explicit-package-bases \
  -p pipemap.mapspec -p pipemap.storage -p pipemap.runner -p pipemap.io -m pipemap.api -m pipemap.cli -m pipemap.demo
