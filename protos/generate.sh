#!/bin/sh
# Generates TypeScript types for the CRI messages into lib/generated (not checked in).
# The generator writes extension-less relative imports; Node's ESM resolution needs ".js".
set -eu
cd "$(dirname "$0")/.."
rm -rf lib/generated
npx proto-loader-gen-types --keepCase --longs=String --enums=String --defaults --oneofs \
  --grpcLib=@grpc/grpc-js --outDir=lib/generated protos/runtime/v1/api.proto >/dev/null
find lib/generated -name '*.ts' -exec sed -i -E "s#(from '\.{1,2}/[^']*)';#\1.js';#" {} +
