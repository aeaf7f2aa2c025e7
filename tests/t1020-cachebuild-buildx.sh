#!/usr/bin/env bash
# run-tests: alone (starts a Docker engine of its own)
# t1020: t1010's cases through `docker buildx build` (Debian 13's
# docker-buildx plugin, installed by .ci/deps.sh) with the docker driver
# of the same engine, plus --builder NAME in BUILD-ARGS and the BuildKit
# version check.
CB_BUILDER=buildx
. "$(dirname "$0")/t1010-cachebuild-docker.sh"
